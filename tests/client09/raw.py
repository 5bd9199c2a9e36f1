"""Websocket and xhr-polling clients on raw sockets.

They do only what a load needs (little parsing beyond finding the answer):

- :func:`raw_websocket` and :class:`PollingClient` run on gevent sockets, for
  servers in the same process (a test's, or :mod:`benchmarks.instructions`,
  which counts their instructions beside the server's);
- :class:`PlainWebSocket` runs on a plain blocking socket, for a thread or a
  process next to a server in another one (the attack benchmarks' clients).
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from ..wsframes import ZERO_MASK, client_frame

#: the key of RFC 6455's example handshake (the server's answer is not checked)
WEBSOCKET_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def upgrade_request(port: int, sid: str, agent: str = "", path: str = "") -> bytes:
    """The request that upgrades ``sid``'s websocket URL (``agent``: a ``User-Agent``).

    ``path``, when given, is upgraded instead (an application's own route).
    """
    head = f"Host: 127.0.0.1:{port}\r\n" + (f"User-Agent: {agent}\r\n" if agent else "")
    path = path or f"/socket.io/1/websocket/{sid}"
    return (
        f"GET {path} HTTP/1.1\r\n{head}Upgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {WEBSOCKET_KEY}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def handshake_sid(conn: Any, port: int, agent: str = "") -> str:
    """Handshake on the fresh connection ``conn`` (then closed by the server); the sid.

    Raises:
        ConnectionError: the answer is not a 200.
    """
    head = f"Host: 127.0.0.1:{port}\r\n" + (f"User-Agent: {agent}\r\n" if agent else "")
    conn.sendall(f"GET /socket.io/1/ HTTP/1.1\r\n{head}Connection: close\r\n\r\n".encode())
    answer = b""
    while chunk := conn.recv(4096):
        answer += chunk
    status, _, rest = answer.partition(b"\r\n")
    if status.split(b" ")[1:2] != [b"200"]:
        raise ConnectionError(f"handshake answered {status!r}")
    return rest.split(b"\r\n\r\n", 1)[1].split(b":")[0].decode()


def read_until(conn: Any, marker: bytes) -> bytes:
    """Read ``conn`` until ``marker`` has come; all that was read.

    Raises:
        EOFError: the server closed the connection first.
    """
    received = b""
    while marker not in received:
        chunk = conn.recv(4096)
        if not chunk:
            raise EOFError(f"the server closed the connection before {marker!r}: {received!r}")
        received += chunk
    return received


def raw_websocket(port: int, agent: str = "") -> Any:
    """Handshake and upgrade on gevent sockets; the socket once ``1::`` is read.

    ``agent``, when given, is sent as the ``User-Agent`` of both requests.
    """
    import gevent.socket

    conn = gevent.socket.create_connection(("127.0.0.1", port))
    sid = handshake_sid(conn, port, agent)
    conn.close()
    conn = gevent.socket.create_connection(("127.0.0.1", port))
    conn.sendall(upgrade_request(port, sid, agent))
    read_until(conn, b"1::")
    return conn


def read_answer(conn: Any, held: bytes) -> tuple[bytes, bytes]:
    """One HTTP answer with a ``Content-Length`` from ``conn``: its body, and what follows it.

    ``held`` is what an earlier read took beyond its own answer.
    """
    # (a closed connection fails rather than loops for ever)
    while b"\r\n\r\n" not in held:
        chunk = conn.recv(65536)
        if not chunk:
            raise EOFError(f"the server closed the connection mid-head: {held!r}")
        held += chunk
    head, _, rest = held.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise EOFError(f"the server closed the connection mid-body: {rest!r}")
        rest += chunk
    return rest[:length], rest[length:]


class PollingClient:
    """An xhr-polling client on gevent sockets: a held GET, and POSTs on a second connection.

    Each :meth:`send` POSTs ``packet``; :meth:`receive` reads the POST's
    answer and the GET's, which must start with ``expect``, and polls again.
    """

    def __init__(self, port: int, packet: bytes, expect: bytes) -> None:
        import gevent.socket

        host = f"Host: 127.0.0.1:{port}\r\n"
        self.expect = expect
        self.posts = gevent.socket.create_connection(("127.0.0.1", port))
        self.posts.sendall(f"GET /socket.io/1/ HTTP/1.1\r\n{host}\r\n".encode())
        body, self.post_held = read_answer(self.posts, b"")
        path = f"/socket.io/1/xhr-polling/{body.split(b':', 1)[0].decode()}?t=1"
        self.get = f"GET {path} HTTP/1.1\r\n{host}\r\n".encode()
        self.post = (
            f"POST {path} HTTP/1.1\r\n{host}Content-Type: text/plain;charset=UTF-8\r\n"
            f"Content-Length: {len(packet)}\r\n\r\n"
        ).encode() + packet
        self.polls = gevent.socket.create_connection(("127.0.0.1", port))
        self.polls.sendall(self.get)
        body, self.poll_held = read_answer(self.polls, b"")
        if body != b"1::":
            raise RuntimeError(f"expected 1::, got {body!r}")
        self.polls.sendall(self.get)

    def send(self) -> None:
        """POST the packet."""
        self.posts.sendall(self.post)

    def receive(self) -> None:
        """Read the POST's answer and the expected packet on the held GET, and poll again."""
        body, self.post_held = read_answer(self.posts, self.post_held)
        if body != b"1":
            raise RuntimeError(f"POST answered {body!r}")
        body, self.poll_held = read_answer(self.polls, self.poll_held)
        if not body.startswith(self.expect):
            raise RuntimeError(f"expected {self.expect!r}, got {body!r}")
        self.polls.sendall(self.get)


class PlainWebSocket:
    """A Socket.IO 0.9 session over a websocket on a plain blocking socket.

    It handshakes, upgrades and reads the server's ``1::``; :meth:`recv`
    answers heartbeats and skips control frames. Frames go with a zero
    masking key (the payload as it is: no byte loop for big ones). ``timeout``
    is the socket's: a read that waits longer raises :class:`socket.timeout`.
    ``nodelay`` turns Nagle's algorithm off (for an attacker's small writes).

    Raises:
        ConnectionError: the server refused the handshake or the upgrade, or
            closed before ``1::``.
    """

    def __init__(self, port: int, timeout: float = 10.0, nodelay: bool = False) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            self.sid = handshake_sid(conn, port)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(upgrade_request(port, self.sid))
        self._buf = b""
        while b"\r\n\r\n" not in self._buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the upgrade")
            self._buf += chunk
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError(status.decode("latin-1"))
        if self.recv() != "1::":
            raise ConnectionError("no 1:: from the server")

    def send(self, text: str) -> None:
        """Send one packet in a text frame."""
        self.sock.sendall(client_frame(text.encode(), mask=ZERO_MASK))

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def recv(self) -> str:
        """The next text message (control frames skipped); heartbeats are answered.

        Raises:
            ConnectionError: the server sent a close frame or closed the connection.
        """
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            data = self._read(length)
            opcode = first & 0x0F
            if opcode == 8:
                raise ConnectionError("close frame from the server")
            if opcode != 1:
                continue
            text = data.decode()
            if text == "2::":
                self.send("2::")
                continue
            return text

    def close(self) -> None:
        """Close the TCP connection (no close frame)."""
        try:
            self.sock.close()
        except OSError:
            pass
