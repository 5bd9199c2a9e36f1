"""Strict HTTP/1.1 request reading (RFC 9112): the request line, the head, and bodies.

:class:`RequestReader` is pywsgi's handler reading requests strictly (the
request line and head as :mod:`socketio.httpheaders` splits them, an
unambiguous body framing), tracking each wait in the server's
:class:`~socketio.connections.ConnectionTracker`, and reading bodies within
``max_body_size`` and ``max_total_body_size``. :class:`ChunkedInput` reads a
chunked body a line at a time, bounded.
"""

from __future__ import annotations

import http.client
import io
import re
import socket
from typing import TYPE_CHECKING, Any, Optional

from gevent.pywsgi import MAX_REQUEST_LINE

from . import httpheaders
from .exceptions import PayloadError
from .fairness import pause
from .geventsocket import is_plain, wait_readable
from .peerlog import clip, server_logs
from .pywsgiprivate import (
    KNOWN_VERSIONS,
    BoundedInput,
    Headers,
    InvalidClientInput,
    PywsgiHandler,
)

if TYPE_CHECKING:  # pragma: no cover
    from .connections import ConnectionTracker

__all__ = [
    "READ_BUFFER_SIZE",
    "SMALL_BODY",
    "ChunkedInput",
    "RequestReader",
    "SocketReader",
    "connection_reader",
]

#: the request reader's buffer (pywsgi's default is 8 KiB). It lives as long as
#: the connection, and a websocket's frames are read past it: a request head
#: longer than this takes one more read, a long body is read without it.
READ_BUFFER_SIZE = 2048

_REQUEST_LINE = httpheaders.REQUEST_LINE

#: bodies up to this size are not counted against ``max_total_body_size``
SMALL_BODY = 65536
#: bytes of a chunked body read at a time (see RequestReader._read_chunked)
_CHUNKED_PIECE = 8192

#: longest chunk-size line (size, extensions, CRLF) of a chunked body
_CHUNK_LINE = 1024
#: chunk lines and trailers may add up to this many bytes more than twice the data
_CHUNK_OVERHEAD = 65536
#: chunks read between two yields to the loop
_CHUNKS_PER_TURN = 64
_HEX_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}[ \t]*")


class SocketReader(socket.SocketIO):
    """The raw reader of a connection's buffered reader: after a short read, it waits before reading.

    A short read emptied what the kernel held: the next bytes are still on
    their way (the next request of a kept-alive connection comes after its
    client has read the answer). gevent's ``recv_into`` would try a read
    first, fail with ``EAGAIN`` (a system call, and an exception caught in
    Python), then wait; this waits on the socket's own read watcher first,
    as that read would, with the same timeout and the same error when the
    socket is closed under it. Reads after a full one are tried at once.

    For a plain gevent socket only (an SSL socket may hold decrypted bytes
    its descriptor does not show: see :func:`connection_reader`). The
    socket's ``makefile`` would also count the reader among the socket's
    users, deferring the descriptor's close until the reader is closed: a
    handler closes its socket, and that closes the descriptor now.
    """

    # the stdlib's attributes, untyped there
    _sock: Any
    _timeout_occurred: bool

    def __init__(self, sock: Any) -> None:
        super().__init__(sock, "rb")
        self._wait_first = False

    def readinto(self, buffer: Any) -> Optional[int]:
        """Read into ``buffer``; after a short read, wait for bytes first (see the class)."""
        sock = self._sock
        if self._wait_first and sock is not None and sock.timeout != 0.0:
            # (after a timeout the stdlib's reader refuses to read: so does this)
            self._checkClosed()
            if self._timeout_occurred:
                raise OSError("cannot read from timed out object")
            try:
                wait_readable(sock)
            except socket.timeout:
                self._timeout_occurred = True  # (as SocketIO's readinto does)
                raise
        size = super().readinto(buffer)
        if size is not None:
            self._wait_first = size < len(buffer)
        return size


def connection_reader(sock: Any, size: int = READ_BUFFER_SIZE) -> Any:
    """The buffered reader of an accepted connection: over a :class:`SocketReader` when it can be."""
    if is_plain(sock):
        return io.BufferedReader(SocketReader(sock), size)
    return sock.makefile("rb", size)


class ChunkedInput(BoundedInput):
    """pywsgi's ``Input`` for a chunked request body, read a line at a time, bounded.

    pywsgi parses chunk-size lines and trailers a byte at a time, with no
    bound on the number of trailer lines, and never yields while the socket
    has data: a client streaming chunk extensions or trailers keeps the
    process. Here a chunk line is read whole (at most ``_CHUNK_LINE``
    bytes), the framing (chunk lines and trailers) may not outgrow the data
    (twice it, plus ``_CHUNK_OVERHEAD``), trailers are plain header lines
    bounded as a head, and the reader lets the others run every
    ``_CHUNKS_PER_TURN`` chunks. A malformed body raises pywsgi's own
    error for it, which answers 400 and closes the connection.
    """

    __slots__ = ("_chunks", "_left", "_overhead")

    def __init__(self, rfile: Any, socket: Any = None) -> None:
        super().__init__(rfile, None, socket=socket, chunked_input=True)
        self._left = 0  # bytes left in the current chunk
        self._overhead = 0  # bytes of framing read
        self._chunks = 0

    def read(self, length: Optional[int] = None) -> bytes:
        """Read up to ``length`` bytes of the body (all of it when ``None`` or negative)."""
        return self._read(None if length is None or length < 0 else length, False)

    def readline(self, size: Optional[int] = None) -> bytes:
        """Read one line of the body, at most ``size`` bytes (unbounded when ``None`` or negative)."""
        return self._read(None if size is None or size < 0 else size, True)

    def _read(self, length: Optional[int], line: bool) -> bytes:
        if self.chunk_length == 0 or length == 0:  # (0: the last chunk was read)
            return b""
        self._continue()
        rfile = self.rfile
        out = []
        while length is None or length > 0:
            if not self._left:
                if not self._next_chunk():
                    break
                continue
            want = self._left if length is None else min(self._left, length)
            data = rfile.readline(want) if line else rfile.read(want)
            if not data:
                self._fail("end of file within a chunk")
            out.append(data)
            self._left -= len(data)
            self.position += len(data)
            if length is not None:
                length -= len(data)
            if not self._left and rfile.read(2) != b"\r\n":
                self._fail("chunk not followed by CRLF")
            if line and data[-1:] == b"\n":
                break
        return b"".join(out)

    def _next_chunk(self) -> bool:
        """Read the next chunk-size line; False after the last chunk and its trailers."""
        line = self.rfile.readline(_CHUNK_LINE + 1)
        size, _, extensions = line[:-2].partition(b";")
        if (
            len(line) > _CHUNK_LINE
            or line[-2:] != b"\r\n"
            or b"\r" in extensions
            or _HEX_SIZE.fullmatch(size) is None
        ):
            self._fail(f"invalid chunk line {clip(line)}")
        self._count(len(line) + 2)
        self._chunks += 1
        if not self._chunks % _CHUNKS_PER_TURN:
            pause()  # (a body of many small chunks: let the others run)
        self._left = int(size.rstrip(b" \t"), 16)
        if self._left:
            return True
        for _ in range(httpheaders.MAX_HEADERS):  # the trailers, up to an empty line
            trailer = self.rfile.readline(httpheaders.MAX_LINE + 1)
            if trailer == b"\r\n":
                self._ended()
                return False
            self._count(len(trailer))
            if not httpheaders.check_trailer_line(trailer) or self._overhead > httpheaders.MAX_HEAD:
                self._fail(f"invalid trailer {clip(trailer)}")
        self._fail("too many trailers")
        return False  # (not reached)

    def _count(self, size: int) -> None:
        self._overhead += size
        if self._overhead > 2 * self.position + _CHUNK_OVERHEAD:
            self._fail("chunk framing out of proportion to its data")

    def _fail(self, message: str) -> None:
        self._give_up()
        raise InvalidClientInput(message)


class RequestReader(PywsgiHandler):
    """pywsgi's handler reading requests strictly, each wait tracked, bodies bounded."""

    def MessageClass(self, fp: Any, *args: Any) -> Any:
        """Read the request's headers into pywsgi's message object, strictly.

        The head is split in one piece when the reader's buffer holds it
        whole (:mod:`socketio.httpheaders`), else line by line; either way
        only plain CRLF-ended ``Name: value`` lines are accepted, at most
        :data:`~socketio.httpheaders.MAX_HEADERS` of them and
        :data:`~socketio.httpheaders.MAX_HEAD` bytes in all, with an
        unambiguous body framing (RFC 9112; see
        :func:`~socketio.httpheaders.body_framing`).

        Raises:
            HeadError: anything else; pywsgi hands it to
                ``_handle_client_error()``, which answers its status and
                closes the connection.
        """
        pairs = None
        peek = getattr(fp, "peek", None)
        if peek is not None:
            # Usually the whole head came in one read: take it in one piece.
            held = peek(READ_BUFFER_SIZE)
            end = -2 if held[:2] == b"\r\n" else held.find(b"\r\n\r\n")  # -2: no headers
            size = end + 4 if end != -1 else 0
            if 0 < size and held.count(b"\n", 0, size) <= httpheaders.MAX_HEADERS:
                pairs = httpheaders.split_header_block(held[:size])
                if pairs is not None:
                    fp.read(size)  # (buffered: no I/O)
        if pairs is None:
            try:
                lines = httpheaders.read_header_lines(fp.readline)
            except http.client.LineTooLong:
                raise httpheaders.HeadError(
                    "Invalid headers status: 'Line too long'", "line-too-long"
                ) from None
            except http.client.HTTPException as exc:
                raise httpheaders.HeadError(
                    f"Invalid headers status: {exc}", "too-many-headers"
                ) from None
            httpheaders.check_header_lines(lines)
            pairs = httpheaders.split_header_lines(lines) or []
        return Headers(pairs)

    def read_requestline(self) -> str:
        """Read the request line, tracking the wait for it (see ``ConnectionTracker``).

        Between two requests of a kept-alive connection it is idle (up to
        ``keepalive_timeout``) until the next request's first byte, then reads
        a head (up to ``head_timeout``). If that byte was already there (a
        client pipelining requests), the greenlet first lets the others run:
        one connection cannot keep the process to itself.
        """
        rfile = self.rfile
        connections = self.server.connections
        if self.requestline is not None:
            bodies = connections.bodies
            if bodies:
                bodies.pop(self, None)  # the previous request's, if it had one
            loop = connections.loop
            idle = connections.idle
            idle[self] = turn = loop.now()
            rfile.peek(1)
            idle.pop(self, None)  # (gone already if the sweep ended the connection)
            now = loop.now()
            if now == turn:  # no wait: the loop has not turned since the last answer
                pause()
                now = loop.now()
            connections.heads[self] = now
        line: bytes = rfile.readline(MAX_REQUEST_LINE)
        if line == b"\r\n":  # RFC 9112 §2.2: an empty line before a request is ignored
            line = rfile.readline(MAX_REQUEST_LINE)
        return line.decode("latin-1")

    def read_request(self, raw_requestline: str) -> bool:
        """Parse the request line and head strictly; after it, its body's deadline runs.

        What pywsgi's method does (it is the documented seam), with the
        framing of RFC 9112 (:func:`~socketio.httpheaders.body_framing`): a
        request with both ``Content-Length`` and ``Transfer-Encoding`` is read
        as chunked, and its connection closes after it.

        Raises:
            HeadError: the request line or the head is malformed (see
                :meth:`MessageClass`).
            ValueError: an HTTP version other than 1.0 and 1.1, or a body
                announced on a ``HEAD`` request (as pywsgi).
        """
        match = _REQUEST_LINE.match(raw_requestline)
        if match is None:
            raise httpheaders.HeadError(
                f"Invalid request line: {raw_requestline!r}", "bad-request-line"
            )
        version: str
        self.command, self.path, version = match.groups()
        self.requestline = raw_requestline[:-2]
        self.request_version = version
        if version not in KNOWN_VERSIONS and not self._check_http_version():
            raise ValueError(f"Invalid http version: {raw_requestline!r}")
        self.headers = headers = self.MessageClass(self.rfile, 0)
        index = headers.lookup()
        framing = httpheaders.body_framing(headers.pairs(), version, index)
        length = framing.length
        if framing.close:  # both lengths: the chunks count
            del headers["content-length"]  # (pywsgi's environ would give it)
        if length and self.command == "HEAD":
            raise ValueError("Unexpected Content-Length")
        self.content_length = length
        connection = index.get("connection")
        if version == "HTTP/1.1":
            self.close_connection = framing.close or (
                connection is not None and connection.lower() == "close"
            )
        else:
            self.close_connection = connection is None or connection.lower() != "keep-alive"
        connections = self.server.connections
        connections.heads.pop(self, None)
        if length or framing.chunked:
            connections.bodies[self] = connections.loop.now()
        return True

    def get_environ(self) -> Any:
        """The WSGI environ as pywsgi builds it; a chunked body is read by :class:`ChunkedInput`."""
        env = super().get_environ()
        body = self.wsgi_input
        if body.chunked_input:  # (rare)
            chunked = self.wsgi_input = ChunkedInput(self.rfile, body.socket)
            if env.get("wsgi.input") is body:  # (an upgrade request reads the stream)
                env["wsgi.input"] = chunked
        return env

    def read_body(self) -> str:
        """Read the request body as text, refusing more than ``max_body_size`` bytes.

        Raises:
            PayloadError: the body is too large or not UTF-8.
        """
        limit = self.config.max_body_size
        length = self.environ.get("CONTENT_LENGTH")
        declared = 0
        if length:
            try:
                declared = int(length)
            except ValueError:
                raise PayloadError("invalid Content-Length") from None
            if declared > limit:
                raise PayloadError(f"body of {declared} bytes exceeds {limit}", status_hint=413)
        body = self.environ["wsgi.input"]
        connections = self.server.connections
        # The process's memory for bodies is bounded too: a large body counts
        # what it announces, a chunked one what it has sent past SMALL_BODY.
        chunked = getattr(body, "chunked_input", False)
        counted = [0]
        if not chunked and declared > SMALL_BODY:
            self._count_body(connections, counted, declared)
        try:
            if chunked:
                data = self._read_chunked(body, limit, connections, counted)
            else:
                data = body.read(limit + 1)
        except PayloadError:
            raise
        except (OSError, ValueError) as exc:
            # Cut short, reset, or malformed (a bad chunk): what follows in the
            # stream cannot be trusted to start a request. Close after answering.
            self._abandon_body()
            if self in connections.timed_out:
                raise PayloadError(
                    f"body not received within {self.config.body_timeout}s", status_hint=408
                ) from None
            raise PayloadError(f"unreadable body: {clip(str(exc) or type(exc).__name__)}") from None
        finally:
            if counted[0]:
                connections.release_body(counted[0])
        connections.bodies.pop(self, None)
        if len(data) > limit:
            raise PayloadError(f"body exceeds {limit} bytes", status_hint=413)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"body is not UTF-8: {exc}") from exc

    def _count_body(self, connections: ConnectionTracker, counted: list[int], size: int) -> None:
        """Count ``size`` more bytes of this request's body against ``max_total_body_size``.

        Raises:
            PayloadError: 503, the process is reading too many bodies already
                (the connection closes after the answer, the body unread).
        """
        if not connections.reserve_body(size):
            self._abandon_body()
            server_logs(self.server).http(
                "bodies-full",
                "refused a request body: %d bytes of bodies being read",
                connections.body_bytes,
            )
            raise PayloadError("server busy: too many request bodies", status_hint=503)
        counted[0] += size

    def _read_chunked(
        self,
        body: Any,
        limit: int,
        connections: ConnectionTracker,
        counted: Optional[list[int]] = None,
    ) -> bytes:
        """A chunked body, up to ``limit + 1`` bytes, read a piece at a time.

        pywsgi's reader keeps a bytes object per chunk until a read returns:
        a body of one-byte chunks costs dozens of bytes of memory per byte
        (see ``benchmarks/RESULTS.md``), and
        its chunk lines are parsed a byte at a time. Small pieces bound both,
        and between two pieces the greenlet lets the others run if the loop
        has not turned meanwhile; a timed-out body stops here even if its
        client keeps sending.
        """
        data = bytearray()
        loop = connections.loop
        turn = loop.now()
        while len(data) <= limit:
            piece = body.read(min(_CHUNKED_PIECE, limit + 1 - len(data)))
            if not piece:
                break
            data += piece
            if self in connections.timed_out:
                raise TimeoutError("body timeout")
            if counted is not None and len(data) > SMALL_BODY:
                self._count_body(connections, counted, len(data) - counted[0])
            if loop.now() == turn:
                pause()
            turn = loop.now()
        return bytes(data)
