"""What one process says to another when it forwards a request: pure HTTP/1.1 codecs.

A process that receives a polling request for a session another process owns
(see :mod:`socketio.forwarding`) replays it to the owner and relays the
answer. This module builds the replayed request from the WSGI environ, reads
the owner's response head, and decodes a chunked response body. Pure:
standard library only, bytes in and out, no sockets.

The owner is one of our own processes, but its answer is still parsed with
limits (head size, header count, chunk-size line length): a bug or a hung
owner must cost the forwarding process a bounded amount.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, NamedTuple, Optional, Union

from .exceptions import RelayError

__all__ = [
    "FORWARD_HEADER",
    "OWNER_HEADER",
    "ChunkDecoder",
    "ForwardAddress",
    "RelayError",
    "ResponseHead",
    "build_request",
    "parse_forward_address",
    "parse_response_head",
    "relayed_headers",
]

#: the header carrying the client's address and the forwarding signature
FORWARD_HEADER = "X-Socketio-Forwarded"
#: the header by which the owner signs its answer
OWNER_HEADER = "X-Socketio-Owner"
_FORWARD_ENVIRON = "HTTP_X_SOCKETIO_FORWARDED"

#: most bytes of a response head read from an owner
MAX_HEAD = 16 * 1024
_MAX_HEADERS = 64
_MAX_CHUNK_LINE = 64

# Headers of one hop only (RFC 9110, 7.6.1), and those the forwarding process
# writes itself; never copied from the client to the owner or back.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "date",
        FORWARD_HEADER.lower(),
        OWNER_HEADER.lower(),
    }
)


class ForwardAddress(NamedTuple):
    """Where a process listens for the requests its siblings forward to it."""

    #: ``"unix"`` or ``"tcp"``
    family: str
    #: a filesystem path (unix) or a host (tcp)
    host: str
    #: the TCP port; 0 for unix, or for a TCP listener yet to be bound
    port: int = 0

    def __str__(self) -> str:
        if self.family == "unix":
            return f"unix:{self.host}"
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"


def parse_forward_address(value: Union[str, tuple[str, int], ForwardAddress]) -> ForwardAddress:
    """Read ``'unix:/path'``, ``'host:port'``, ``'[v6]:port'`` or ``(host, port)``.

    A wildcard host (``0.0.0.0``, ``::``, ``''``) is refused: the address is
    written into session ids for siblings to connect to, so it must name
    this process.

    Raises:
        ValueError: ``value`` is none of these.
    """
    if isinstance(value, ForwardAddress):
        return value
    if isinstance(value, tuple):
        try:
            host, port = value
        except ValueError:
            raise ValueError(f"not (host, port): {value!r}") from None
        return _tcp(str(host), port, value)
    if not isinstance(value, str):
        raise ValueError(f"not an address: {value!r}")
    if value.startswith("unix:"):
        path = value[len("unix:") :]
        if not path.startswith("/"):
            raise ValueError(f"a unix address needs an absolute path: {value!r}")
        return ForwardAddress("unix", path)
    host, sep, port_text = value.rpartition(":")
    if not sep:
        raise ValueError(f"not 'host:port' or 'unix:/path': {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return _tcp(host, port_text, value)


def _tcp(host: str, port: Any, value: Any) -> ForwardAddress:
    try:
        number = int(port)
    except (TypeError, ValueError):
        raise ValueError(f"not a port number in {value!r}") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"port out of range in {value!r}")
    try:
        if ipaddress.ip_address(host).is_unspecified:
            raise ValueError(
                f"{value!r} is a wildcard: give the address siblings reach this process at"
            )
    except ValueError as exc:
        if "wildcard" in str(exc):
            raise
        if not host or any(c in host for c in " /\r\n"):  # (a name: resolved when connecting)
            raise ValueError(f"not a host in {value!r}") from None
    return ForwardAddress("tcp", host, number)


def build_request(
    method: str,
    target: str,
    environ: Mapping[str, Any],
    body: bytes,
    forwarded: str,
    keep_alive: bool = False,
) -> bytes:
    """The bytes of the request replayed to the owner.

    Args:
        method: the client's request method.
        target: the client's request target, path and query, as received.
        environ: the client's WSGI environ: its headers are copied, but for
            those of one hop and the framing (written anew).
        body: the whole body, already read (and limited) by this process.
        forwarded: the :data:`FORWARD_HEADER` value (client address and
            signature, see :func:`socketio.sessionid.forward_signature`).
        keep_alive: ask the owner to keep the connection open for the next one.
    """
    lines = [f"{method} {target} HTTP/1.1"]
    for key, value in environ.items():
        if not key.startswith("HTTP_") or key == _FORWARD_ENVIRON:
            continue
        name = key[5:].replace("_", "-").title()
        if name.lower() in _HOP_BY_HOP or not _clean(value):
            continue
        lines.append(f"{name}: {value}")
    content_type = environ.get("CONTENT_TYPE")
    if content_type and _clean(content_type):
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"{FORWARD_HEADER}: {forwarded}")
    lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("latin-1", "replace") + body


def _clean(value: Any) -> bool:
    return isinstance(value, str) and "\r" not in value and "\n" not in value


class ResponseHead(NamedTuple):
    """An owner's response head, as read by :func:`parse_response_head`."""

    status: int
    #: the headers to pass on to the client (:func:`relayed_headers`)
    headers: list[tuple[str, str]]
    #: ``Content-Length``, or ``None``
    length: Optional[int]
    #: whether the body is chunked
    chunked: bool
    #: bytes of the head, including its blank line
    size: int
    #: the :data:`OWNER_HEADER` value, or ``None``
    owner: Optional[str] = None
    #: the owner closes the connection after this answer (``Connection: close``)
    close: bool = False


def parse_response_head(data: bytes) -> Optional[ResponseHead]:
    """Parse the response head at the start of ``data``; ``None`` if it is not all there yet.

    Raises:
        RelayError: the head is malformed, or longer than :data:`MAX_HEAD`.
    """
    end = data.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
    if end < 0:
        if len(data) >= MAX_HEAD + 4:
            raise RelayError(f"response head longer than {MAX_HEAD} bytes")
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise RelayError(f"not a status line: {lines[0][:80]!r}")
    status = int(parts[1])
    if not 100 <= status <= 599:
        raise RelayError(f"status out of range: {status}")
    if len(lines) - 1 > _MAX_HEADERS:
        raise RelayError(f"more than {_MAX_HEADERS} headers")
    headers: list[tuple[str, str]] = []
    length: Optional[int] = None
    chunked = False
    owner = None
    close = False
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise RelayError(f"not a header line: {line[:80]!r}")
        value = value.strip()
        lower = name.lower()
        if lower == "content-length":
            if not value.isdigit():
                raise RelayError(f"bad Content-Length: {value[:20]!r}")
            length = int(value)
        elif lower == "transfer-encoding":
            chunked = value.lower() == "chunked"
            if not chunked:
                raise RelayError(f"unsupported Transfer-Encoding: {value[:20]!r}")
        elif lower == "x-socketio-owner":
            owner = value
        elif lower == "connection":
            close = "close" in value.lower()
        headers.append((name, value))
    return ResponseHead(status, relayed_headers(headers), length, chunked, end + 4, owner, close)


def relayed_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` without those of one hop (the relaying process writes its own framing)."""
    return [(name, value) for name, value in headers if name.lower() not in _HOP_BY_HOP]


class ChunkDecoder:
    """Decodes a chunked body fed in pieces (``Transfer-Encoding: chunked``).

    :meth:`feed` returns the payload bytes it could decode; ``done`` turns
    true after the last chunk and its trailer.
    """

    __slots__ = ("_buffer", "_error", "_left", "_state", "done")

    def __init__(self) -> None:
        self._buffer = b""
        #: payload bytes left in the current chunk
        self._left = 0
        #: "size", "data", "data-end" (its CRLF) or "trailer"
        self._state = "size"
        #: true once the last chunk and its trailer are read
        self.done = False
        #: malformed framing found after payload this call returned
        self._error: Optional[RelayError] = None

    def feed(self, data: bytes) -> list[bytes]:
        """Decode what ``data`` completes; keep the rest for the next call.

        Raises:
            RelayError: the framing is malformed (on the next call, if this
                one decoded payload before the fault: that payload is good).
        """
        if self._error is not None:
            raise self._error
        out: list[bytes] = []
        try:
            self._decode(self._buffer + data, out)
        except RelayError as exc:
            if not any(out):
                raise
            self._error = exc
        return [piece for piece in out if piece]

    def _decode(self, buffer: bytes, out: list[bytes]) -> None:
        while buffer and not self.done:
            state = self._state
            if state == "data":
                piece, buffer = buffer[: self._left], buffer[self._left :]
                out.append(piece)
                self._left -= len(piece)
                if not self._left:
                    self._state = "data-end"
                continue
            end = buffer.find(b"\r\n", 0, _MAX_CHUNK_LINE + 2)
            if end < 0:
                if len(buffer) >= _MAX_CHUNK_LINE + 2:
                    raise RelayError("chunk-size line too long")
                break
            line, buffer = buffer[:end], buffer[end + 2 :]
            if state == "data-end":
                if line:
                    raise RelayError("chunk not followed by CRLF")
                self._state = "size"
            elif state == "size":
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise RelayError(f"bad chunk size: {size_text[:20]!r}") from None
                if size < 0:
                    raise RelayError("negative chunk size")
                if size:
                    self._left = size
                    self._state = "data"
                else:
                    self._state = "trailer"
            elif not line:  # the trailer's blank line
                self.done = True
        self._buffer = buffer
