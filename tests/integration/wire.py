"""Wire-level helpers for the HTTP tests: handshakes, framing, and raw HTTP streams.

The framing helpers are written independently of :mod:`socketio.payload`, so
the tests check the library against the protocol, not against itself. Every
helper takes a base URL (``http://127.0.0.1:<port>``) and only uses the
stdlib, ``requests`` and raw sockets.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

FRAME = "\ufffd"
TIMEOUT = 5


def handshake(url: str, **params: Any) -> str:
    """Handshake with ``GET /socket.io/1/`` and return the session id."""
    resp = requests.get(url + "/socket.io/1/", params=params, timeout=TIMEOUT)
    assert resp.status_code == 200, (resp.status_code, resp.text)
    return resp.text.split(":")[0]


def transport_url(url: str, transport: str, sid: str) -> str:
    return f"{url}/socket.io/1/{transport}/{sid}"


def frame(*packets: str) -> str:
    """Frame packets as ``\\ufffd<len>\\ufffd<packet>...`` (ASCII/BMP packets only)."""
    return "".join(f"{FRAME}{len(p)}{FRAME}{p}" for p in packets)


def unframe(body: str) -> list[str]:
    """Split a polling body into packets (a bare body is one packet)."""
    if not body.startswith(FRAME):
        return [body]
    packets = []
    pos = 0
    while pos < len(body):
        assert body[pos] == FRAME, body
        sep = body.index(FRAME, pos + 1)
        length = int(body[pos + 1 : sep])
        packets.append(body[sep + 1 : sep + 1 + length])
        pos = sep + 1 + length
    return packets


def wait_for(predicate: Callable[[], Any], timeout: float = 5, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def closed_by_peer(sock: socket.socket, wait: float) -> bool:
    """Whether the other end closes ``sock`` within ``wait`` seconds (sending nothing first)."""
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


class RawStream:
    """One HTTP/1.1 request on a raw socket, for responses that never end.

    ``chunks()`` reads the chunked body piece by piece as the server sends it.
    """

    def __init__(
        self,
        url: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        timeout: float = TIMEOUT,
        version: str = "HTTP/1.1",
    ) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {target} {version}", f"Host: {parts.netloc}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.buffer = b""
        head = self._read_until(b"\r\n\r\n")
        self.status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(self.status_line.split()[1])
        self.headers = {}
        for line in header_lines:
            key, _, value = line.partition(":")
            self.headers[key.strip().lower()] = value.strip()

    def server_closed(self, wait: float) -> bool:
        """Whether the server closes the connection within ``wait`` seconds (nothing else sent)."""
        return closed_by_peer(self.sock, wait)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by the server")
        self.buffer += data

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read_exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_chunk(self) -> bytes:
        """The next chunk of a chunked body (``b''`` for the final one)."""
        size = int(self._read_until(b"\r\n").split(b";")[0], 16)
        data = self._read_exactly(size)
        assert self._read_exactly(2) == b"\r\n"
        return data

    def read_body(self) -> bytes:
        """The whole body of a response that ends (``Content-Length`` or chunked)."""
        if "content-length" in self.headers:
            return self._read_exactly(int(self.headers["content-length"]))
        body = b""
        while chunk := self.read_chunk():
            body += chunk
        return body

    def read_text_until(self, pattern: str, text: str = "") -> str:
        """Read at least one chunk, then more until ``pattern`` (a regex) matches the
        text read by this call; return ``text`` followed by that text."""
        new = ""
        while not new or re.search(pattern, new, re.DOTALL) is None:
            chunk = self.read_chunk()
            if not chunk:
                raise EOFError(f"stream ended before {pattern!r}: {text + new!r}")
            new += chunk.decode("utf-8")
        return text + new

    def close(self) -> None:
        self.sock.close()


SCRIPT_RE = re.compile(r"<script>_\((\"(?:[^\"\\]|\\.)*\")\);</script>")


def htmlfile_payloads(text: str) -> list[str]:
    """The payloads carried by the ``<script>_("...");</script>`` elements of ``text``."""
    return [json.loads(literal) for literal in SCRIPT_RE.findall(text)]
