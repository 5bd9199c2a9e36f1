"""Websocket and xhr-polling clients on gevent sockets, for servers in the same process.

They do only what a load needs (no parsing beyond finding the answer), since
:mod:`benchmarks.instructions` counts their instructions beside the server's;
a test uses them to reach a server it runs in its own process.
"""

from __future__ import annotations

from typing import Any

#: the key of RFC 6455's example handshake (the server's answer is not checked)
WEBSOCKET_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def raw_websocket(port: int, agent: str = "") -> Any:
    """Handshake and upgrade on gevent sockets; the socket once ``1::`` is read.

    ``agent``, when given, is sent as the ``User-Agent`` of both requests.
    """
    import gevent.socket

    head = f"Host: 127.0.0.1:{port}\r\n" + (f"User-Agent: {agent}\r\n" if agent else "")
    conn = gevent.socket.create_connection(("127.0.0.1", port))
    conn.sendall(f"GET /socket.io/1/ HTTP/1.1\r\n{head}Connection: close\r\n\r\n".encode())
    answer = b""
    while chunk := conn.recv(4096):
        answer += chunk
    sid = answer.split(b"\r\n\r\n", 1)[1].split(b":")[0].decode()
    conn.close()
    conn = gevent.socket.create_connection(("127.0.0.1", port))
    conn.sendall(
        (
            f"GET /socket.io/1/websocket/{sid} HTTP/1.1\r\n{head}Upgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {WEBSOCKET_KEY}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    received = b""
    while b"1::" not in received:
        chunk = conn.recv(4096)
        if not chunk:
            raise EOFError(f"the server closed the upgrade: {received!r}")
        received += chunk
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
