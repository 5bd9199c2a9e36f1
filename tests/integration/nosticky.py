"""Helpers of the tests of polling without sticky routing (gunicorn ``-w 4``, nginx round robin).

A signed session id names its owner's forward address (``socketio.sessionid``):
:func:`owner_address` reads it back, so a test knows which process holds a
session without asking. :class:`Scattered` is a polling client whose every
request is a new TCP connection, which the kernel (gunicorn's shared
listening socket) or the proxy (round robin) may hand to any process;
:func:`served_by` reads from an access log which processes answered the
client's requests of one session.
"""

from __future__ import annotations

import base64
import concurrent.futures
import re
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.client09.framing import htmlfile_payloads, unframe
from tests.client09.handshake import TIMEOUT, handshake, transport_url
from tests.client09.http import RawStream, keep_alive_get
from tests.client09.polling import PollingClient
from tests.client09.raw import read_until

#: gunicorn's access log format of these tests: the worker's pid, the forwarding
#: header (``-`` on the request the client sent, the client's address and a MAC
#: on the owner's replay of it), the request line and the status
ACCESS_FORMAT = '%(p)s %({x-socketio-forwarded}i)s "%(r)s" %(s)s'
_ACCESS_LINE = re.compile(r'^<(\d+)> (.*?) "(\S+) (\S+) [^"]*" (\d+)$')


def owner_address(sid: str) -> str:
    """The forward address a signed session id names (``unix:/path`` or ``host:port``)."""
    encoded = sid[40:-16]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()


def owner_pid(sid: str) -> int:
    """The pid of the gunicorn worker that owns ``sid`` (its forward socket is ``<pid>.sock``)."""
    return int(owner_address(sid).rsplit("/", 1)[1].removesuffix(".sock"))


def served_by(access_log: str, sid: str) -> list[int]:
    """The pids of the workers that answered the client's own requests for ``sid``, in order.

    The owner's lines for requests a sibling forwarded to it are left out.
    """
    pids = []
    for line in access_log.splitlines():
        match = _ACCESS_LINE.match(line)
        if match and match.group(2) == "-" and f"/{sid}" in match.group(4):
            pids.append(int(match.group(1)))
    return pids


def forwarded_to(access_log: str, sid: str) -> list[int]:
    """The pids of the workers that served a forwarded request for ``sid`` (the owner)."""
    pids = []
    for line in access_log.splitlines():
        match = _ACCESS_LINE.match(line)
        if match and match.group(2) != "-" and f"/{sid}" in match.group(4):
            pids.append(int(match.group(1)))
    return pids


class NewConnections(requests.Session):
    """A ``requests`` session that opens a new connection for every request.

    (``Connection: close`` alone races: a connection the server is closing
    may be taken from the pool again before its end is seen.)
    """

    def __init__(self) -> None:
        super().__init__()
        self.headers["Connection"] = "close"

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            return super().request(*args, **kwargs)
        finally:
            self.close()  # (the answer is read: its connection goes)


class Scattered(PollingClient):
    """A polling client whose every request is a new TCP connection.

    Behind gunicorn or a round-robin proxy each may reach another process.
    """

    def __init__(self, url: str, transport: str = "xhr-polling", sid: str | None = None) -> None:
        super().__init__(url, transport, sid=sid, open=False)
        self.http.close()
        self.http = NewConnections()


def handshakes(url: str, count: int = 8) -> list[str]:
    """``count`` session ids, handshaken at once (so behind gunicorn, by several workers).

    One at a time, the kernel may give every connection to the same few
    workers (whichever wakes first); workers busy with one leave the next to another.
    """
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: handshake(url).sid, range(count)))


def pinned_socket(
    url: str, accept: Callable[[int], bool], tries: int = 60, patience: int = 10
) -> socket.socket:
    """A keep-alive connection to a worker whose pid (``/_pid``) ``accept`` takes.

    The kernel may hand every new connection to the same worker for a while
    (one at a time, it did, on PyPy): past ``patience`` connections to
    unsuitable workers, each next one holds its worker (``/_stall``, see
    ``gunicorn_redis``) while the following one is made, which another
    worker must accept.
    """
    parts = urlsplit(url)
    seen = []
    held: list[socket.socket] = []
    try:
        for _ in range(tries):
            sock = socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT)
            pid = int(keep_alive_get(sock, parts.netloc, "/_pid"))
            if accept(pid):
                return sock
            seen.append(pid)
            if len(seen) > patience:
                _stall(sock, parts.netloc)
                held.append(sock)
            else:
                sock.close()
    finally:
        for sock in held:
            sock.close()
    raise AssertionError(f"no connection reached a suitable worker (reached {seen})")


def _stall(sock: socket.socket, host: str, seconds: float = 1) -> None:
    """Hold the worker ``sock`` is connected to for ``seconds``; return once it is held."""
    sock.sendall(f"GET /_stall?{seconds} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    read_until(sock, b"stalling\n")


def pinned_request(sock: socket.socket, url: str, method: str = "GET", body: str = "") -> str:
    """``method url`` on ``sock`` (then closed); the body of its answer."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    data = body.encode("utf-8")
    head = f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n"
    sock.sendall(f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    status, _, rest = answer.partition(b"\r\n")
    assert status.split()[1] == b"200", answer
    return rest.partition(b"\r\n\r\n")[2].decode("utf-8")


class PinnedStream(RawStream):
    """An htmlfile or xhr-multipart stream on a connection already open to one worker."""

    def __init__(self, sock: socket.socket, url: str, transport: str, sid: str) -> None:
        self.sock = sock
        self.transport = transport
        self.url = transport_url(url, transport, sid)
        target = urlsplit(self.url).path
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\n\r\n".encode())
        self.buffer = b""
        head = self._read_until(b"\r\n\r\n")
        self.status_line, *lines = head.decode("latin-1").split("\r\n")
        self.status = int(self.status_line.split()[1])
        self.headers = {}
        for line in lines:
            key, _, value = line.partition(":")
            self.headers[key.strip().lower()] = value.strip()
        self.boundary = ""
        if transport == "xhr-multipart":
            found = re.search(r'boundary="?([^";]+)"?', self.headers["content-type"])
            assert found, self.headers
            self.boundary = found.group(1)

    def packets(self) -> list[str]:
        """The packets of the next payloads the stream carries."""
        if self.transport == "htmlfile":
            text = self.read_text_until(r"</script>$")
            return [p for body in htmlfile_payloads(text) for p in unframe(body)]
        text = self.read_text_until(re.escape(f"\r\n--{self.boundary}\r\n") + "$")
        packets = []
        for part in text.split(f"--{self.boundary}\r\n"):
            body = part.partition("\r\n\r\n")[2]
            if body:
                packets += unframe(body.removesuffix("\r\n"))
        return packets


def echo_transcript(count: int) -> list[str]:
    """What a client that enters ``/chat`` and sends ``count`` echoes (ids 1..count) receives, in order."""
    return [
        "1::/chat",
        '5::/chat:{"args":["/chat"],"name":"welcome"}',
        *(f"6::/chat:{n}+[{n}]" for n in range(1, count + 1)),
    ]
