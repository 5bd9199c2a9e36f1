"""Raw HTTP on sockets: streams that never end, keep-alive requests, liveness."""

from __future__ import annotations

import re
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from .handshake import TIMEOUT
from .waiting import wait_for


def wait_http(url: str, timeout: float = 20, proc: Any = None) -> None:
    """Wait until ``url`` answers any HTTP status (the server is up).

    Fails at once if ``proc`` (a :class:`subprocess.Popen`) has exited.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def closed_by_peer(sock: socket.socket, wait: float) -> bool:
    """Whether the other end closes ``sock`` within ``wait`` seconds (sending nothing first)."""
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except socket.timeout:  # (TimeoutError from 3.10; not yet on PyPy 3.9)
        return False


def keep_alive_get(sock: socket.socket, host: str, path: str) -> str:
    """A keep-alive ``GET path`` on ``sock``; returns the body of its 200 answer."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "connection closed during the answer's head"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].split()[1] == "200", lines[0]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(4096)
        assert chunk, "connection closed during the answer's body"
        body += chunk
    return body.decode("utf-8")


class RawStream:
    """One HTTP/1.1 request on a raw socket, for responses that never end.

    ``read_chunk()`` reads the chunked body piece by piece as the server sends it.
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
        self.headers: dict[str, str] = {}
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
        """Read until ``pattern`` (a regex) matches; return ``text`` then what was read.

        It reads at least one chunk, then more until the pattern matches the text
        read by this call.
        """
        new = ""
        while not new or re.search(pattern, new, re.DOTALL) is None:
            chunk = self.read_chunk()
            if not chunk:
                raise EOFError(f"stream ended before {pattern!r}: {text + new!r}")
            new += chunk.decode("utf-8")
        return text + new

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


def unread_by_server(sock: socket.socket) -> int | None:
    """Bytes sent on ``sock`` that the server process has not read yet (its receive queue).

    Read from the kernel (``/proc/net/tcp``, the server's end of the same
    loopback connection), so it asks the server nothing. ``None`` once that
    end is gone.
    """
    client_host, client_port = sock.getsockname()[:2]
    server_host, server_port = sock.getpeername()[:2]
    local = f"{_hex_address(server_host)}:{server_port:04X}"
    remote = f"{_hex_address(client_host)}:{client_port:04X}"
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[1] == local and fields[2] == remote:
                return int(fields[4].split(":")[1], 16)
    return None


def _hex_address(host: str) -> str:
    """An IPv4 address as ``/proc/net/tcp`` writes it (little-endian hex)."""
    return "".join(f"{int(part):02X}" for part in reversed(host.split(".")))


def wait_read(sock: socket.socket, timeout: float = 5) -> None:
    """Wait until the server process has read everything sent on ``sock``.

    A server that has read a request is then busy with it until it waits on
    something; what the test does next reaches it after that.
    """
    wait_for(lambda: unread_by_server(sock) == 0, timeout, "the server to read what was sent")
