"""The HTTP glue: route ``/<resource>/...`` requests to the handshake or a transport.

:class:`SocketIOHandler` extends gevent-websocket's ``WebSocketHandler`` at its
documented seam, ``run_application``: requests outside the resource reach the
WSGI application untouched (websocket upgrades included, so the application can
use ``environ['wsgi.websocket']`` on its own routes); Socket.IO requests are
classified by :func:`socketio.protocol.parse_request` and answered here.
"""

from __future__ import annotations

import base64
import errno
import functools
import hashlib
import http
import http.client
import io
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Union

import gevent
from gevent import pywsgi
from gevent.pywsgi import MAX_REQUEST_LINE, Input, OldMessage, WSGIHandler, format_date_time
from geventwebsocket.handler import WebSocketHandler
from geventwebsocket.websocket import Stream

from . import clientjs, httpheaders, payload, protocol
from .config import HEARTBEAT_TRANSPORTS, WEBSOCKET_TRANSPORTS, Config
from .exceptions import NotSocketIORequest, PayloadError
from .fairness import pause
from .peerlog import PeerLog, clip
from .protocol import JAVASCRIPT, Response, cors_headers, text_response
from .transports import (
    BaseTransport,
    FlashSocketTransport,
    HTMLFileTransport,
    JSONPolling,
    WebsocketTransport,
    XHRMultipartTransport,
    XHRPollingTransport,
)
from .wsconn import BoundedWebSocket

if TYPE_CHECKING:  # pragma: no cover
    from .virtsocket import Socket

__all__ = ["BoundedWebSocket", "SocketIOHandler"]

log = logging.getLogger(__name__)
#: client mistakes: one short line per kind and interval (see socketio.peerlog)
peer_log = PeerLog(log)

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: the request reader's buffer (pywsgi's default is 8 KiB). It lives as long as
#: the connection, and a websocket's frames are read past it: a request head
#: longer than this takes one more read, a long body is read without it.
READ_BUFFER_SIZE = 2048

_KNOWN_VERSIONS = frozenset({"HTTP/1.1", "HTTP/1.0"})

_REQUEST_LINE = httpheaders.REQUEST_LINE

#: bodies up to this size are not counted against ``max_total_body_size``
SMALL_BODY = 65536
#: bytes of a chunked body read at a time (see SocketIOHandler._read_chunked)
_CHUNKED_PIECE = 8192
#: characters of a request line kept in the access log
_LOGGED_REQUEST_LINE = 200

# pywsgi's error for a malformed body (chunk framing), private to it: were it
# renamed, such errors would be told by their traceback alone (_client_caused)
_InvalidClientInput: Any = getattr(pywsgi, "_InvalidClientInput", None) or type(
    "_InvalidClientInput", (OSError,), {}
)
#: errors of a connection its client reset or dropped
_CONNECTION_ERRNOS = frozenset(
    {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ETIMEDOUT, errno.ENOTCONN,
     errno.ESHUTDOWN}
)  # fmt: skip
_INPUT_CODES = frozenset(
    getattr(Input, name).__code__
    for name in ("read", "readline", "_do_read", "_chunked_read")
    if hasattr(getattr(Input, name, None), "__code__")
)


def _client_caused(exc: BaseException, tb: Any) -> bool:
    """Whether an exception from the application was caused by the client, not by a bug.

    A malformed body (pywsgi's own error), any error raised while reading
    the request body (pywsgi's ``Input``: cut short, reset), or a reset or
    dropped connection. A bug of the application or ours is anything else.
    """
    if isinstance(exc, _InvalidClientInput):
        return True
    if isinstance(exc, OSError) and exc.errno in _CONNECTION_ERRNOS:
        return True
    if not isinstance(exc, (OSError, ValueError)):
        return False
    while tb is not None:
        if tb.tb_frame.f_code in _INPUT_CODES:
            return True
        tb = tb.tb_next
    return False


@functools.lru_cache(maxsize=16)
def _error_response(status: int) -> bytes:
    """A whole bodiless answer with ``status`` that closes the connection."""
    return (
        f"HTTP/1.1 {_status_line(status)}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    ).encode("latin-1")


#: environ entries besides ``HTTP_*`` whose value a long-lived connection shares
_SHARED_ENTRIES = frozenset({"REQUEST_METHOD", "SERVER_PROTOCOL", "REMOTE_ADDR"})
#: headers whose value is new for every connection
_UNIQUE_HEADERS = frozenset({"HTTP_SEC_WEBSOCKET_KEY", "HTTP_COOKIE"})
#: longer values are not shared (the cache below holds at most 512 of these)
_SHARED_VALUE_SIZE = 512


@functools.lru_cache(maxsize=512)
def _shared(value: str) -> str:
    """The first string seen equal to ``value`` (of the last 512 distinct ones)."""
    return value


#: longest chunk-size line (size, extensions, CRLF) of a chunked body
_CHUNK_LINE = 1024
#: chunk lines and trailers may add up to this many bytes more than twice the data
_CHUNK_OVERHEAD = 65536
#: chunks read between two yields to the loop
_CHUNKS_PER_TURN = 64
_HEX_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}[ \t]*")


class _ChunkedInput(Input):
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
        return self._read(None if length is None or length < 0 else length, False)

    def readline(self, size: Optional[int] = None) -> bytes:
        return self._read(None if size is None or size < 0 else size, True)

    def _read(self, length: Optional[int], line: bool) -> bytes:
        if self.chunk_length == 0 or length == 0:  # (0: the last chunk was read)
            return b""
        self._send_100_continue()
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
                self.chunk_length = 0  # type: ignore[misc]  # (a slot of pywsgi's Input)
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
        self._chunked_input_error = True  # type: ignore[misc]  # (so pywsgi discards no more)
        self.chunk_length = 0  # type: ignore[misc]
        raise _InvalidClientInput(message)


class _SpentInput(io.RawIOBase):
    """The input of a request that became a websocket: at its end, and staying there.

    One object serves every such connection, so it keeps no state: reads
    return nothing, ``close`` does nothing, and it cannot be written or sought.
    """

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return 0

    def close(self) -> None:
        pass


_SPENT_INPUT = _SpentInput()


_PREFLIGHT = [
    ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "Content-Type"),
    ("Access-Control-Max-Age", "86400"),
    ("Content-Length", "0"),
]


class _Headers(OldMessage):
    """pywsgi's message object over plain header pairs, looked up through a dict.

    pywsgi and gevent-websocket ask a request's message for a header some
    eight times (``Content-Length``, ``Connection``, ``Upgrade``...), and
    :mod:`email` answers each by lowering every name it holds. Here the
    first value of each lowered name is indexed once. The index is of one
    list of pairs: :mod:`email` methods that change the headers either
    replace that list or go through the methods below, which drop it.
    """

    _index: dict[str, str]
    _indexed: Optional[list] = None  # the list of pairs ``_index`` was built from

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__()
        self._headers = pairs  # what the email parser would fill

    def _lookup(self) -> dict[str, str]:
        pairs = self._headers
        if self._indexed is not pairs:
            index: dict[str, str] = {}
            for key, value in pairs:
                index.setdefault(key.lower(), value)
            self._index = index
            self._indexed = pairs
        return self._index

    def get(self, name: str, failobj: Any = None) -> Any:
        return self._lookup().get(name.lower(), failobj)

    def __getitem__(self, name: str) -> Any:
        return self._lookup().get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def __setitem__(self, name: str, val: Any) -> None:
        super().__setitem__(name, val)
        self._indexed = None

    def set_raw(self, name: str, value: Any) -> None:
        super().set_raw(name, value)
        self._indexed = None

    def replace_header(self, _name: str, _value: Any) -> None:
        super().replace_header(_name, _value)
        self._indexed = None


@functools.lru_cache(maxsize=2)
def _http_date(second: int) -> str:
    return format_date_time(second).decode("latin-1")  # pywsgi gives bytes


def _date_header() -> tuple[str, str]:
    # pywsgi formats the date for every response; it changes once a second.
    return ("Date", _http_date(int(time.time())))


@functools.lru_cache(maxsize=64)
def _status_line(code: int) -> str:
    return f"{code} {http.HTTPStatus(code).phrase}"


_CONNECTION = 1
_CONTENT_LENGTH = 2


@functools.lru_cache(maxsize=256)
def _header_line(name: str, value: str) -> tuple[str, int, tuple[bytes, bytes]]:
    """A response header's line, which of the headers the head is checked for it is, its bytes.

    Remembered: most answers carry the same few headers (content type,
    ``nosniff``, the CORS ones for a page's origin), and checking and
    encoding each again cost more than the rest of the head.

    Raises:
        ValueError: a CR or LF in the name or value (pywsgi's check).
    """
    if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
        raise ValueError(f"carriage return or newline in header {name!r}: {value!r}")
    lowered = name.lower()
    kind = (
        _CONNECTION
        if lowered == "connection"
        else _CONTENT_LENGTH
        if lowered == "content-length"
        else 0
    )
    return f"{name}: {value}\r\n", kind, (name.encode("latin-1"), value.encode("latin-1"))


def _write_nothing(data: bytes) -> None:
    pass


def _ignore_response(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
    """``start_response`` for the application of a session: what it answers goes nowhere.

    (Its transport has answered the request already.)
    """
    return _write_nothing


#: every attribute pywsgi, gevent-websocket and this module set on a handler
_HANDLER_ATTRIBUTES = (
    "socket", "client_address", "server", "rfile", "config", "time_start", "time_finish",
    "requestline", "response_length", "command", "path", "request_version", "headers",
    "content_length", "close_connection", "wsgi_input", "environ", "application", "status",
    "headers_sent", "result", "response_use_chunked", "connection_upgraded", "_orig_status",
    "code", "response_headers", "websocket", "provided_date", "provided_content_length",
)  # fmt: skip


def _share_attribute_keys(cls: type) -> None:
    """Give ``cls``'s instances one table of attribute names, before any handler ends.

    CPython keeps the attribute values of a class's instances in a compact
    array against one table of names per class, up to 30 of them. pywsgi
    ends each connection by popping three attributes from the handler's
    ``__dict__``; if a name new to the table is set on any handler after
    that, CPython gives up the shared table, and every later handler gets a
    dict of its own (1.3 KiB more for each websocket connection, for as long
    as it lasts). Setting every name once, on a throwaway instance, fills the
    table first.
    """
    probe: Any = object.__new__(cls)
    for name in _HANDLER_ATTRIBUTES:
        object.__setattr__(probe, name, None)


class _WebsocketSession(NamedTuple):
    """An upgraded connection whose session ``run_application`` serves (see there)."""

    transport: WebsocketTransport
    socket: Socket
    application: Optional[Callable[[], None]]


class SocketIOHandler(WebSocketHandler):
    """Serves Socket.IO requests; everything else goes to the WSGI application.

    Args:
        config: the server's :class:`~socketio.config.Config`.
        sock, address, server: as for ``gevent.pywsgi.WSGIHandler``.
    """

    # Attributes of pywsgi's handler, untyped there.
    command: str
    requestline: Optional[str]
    headers: Any
    headers_sent: bool
    wsgi_input: Any
    request_version: str
    rfile: Any
    response_length: int

    #: the access log reads the request's and the response's headers when the
    #: connection ends (gunicorn's does): keep them for a websocket's whole life
    log_reads_headers = False

    #: transport name → transport class
    handler_types: dict[str, type[BaseTransport]] = {
        "websocket": WebsocketTransport,
        "flashsocket": FlashSocketTransport,
        "htmlfile": HTMLFileTransport,
        "xhr-multipart": XHRMultipartTransport,
        "xhr-polling": XHRPollingTransport,
        "jsonp-polling": JSONPolling,
    }

    def __init__(
        self, config: Any, sock: Any, address: Any, server: Any, rfile: Any = None
    ) -> None:
        if rfile is None:
            rfile = sock.makefile("rb", READ_BUFFER_SIZE)
        super().__init__(sock, address, server, rfile)
        self.config: Config = Config.coerce(config)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _share_attribute_keys(cls)

    def log_request(self) -> None:
        """Write the access-log line to the server's ``log`` (pywsgi's behaviour).

        gevent-websocket's handler logs to a logger of its own instead, which
        would ignore ``SocketIOServer(log=None)`` and ``log_file=``.
        """
        if getattr(self.server, "access_log", True) and self.server.log is not None:
            WSGIHandler.log_request(self)

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
                :meth:`_handle_client_error`, which answers its status and
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
        return _Headers(pairs)

    def read_requestline(self) -> str:
        """Read the request line, tracking the wait for it (see ``ConnectionTracker``).

        Between two requests of a kept-alive connection it is idle (up to
        ``keepalive_timeout``) until the next request's first byte, then reads
        a head (up to ``head_timeout``). If that byte was already there (a
        client pipelining requests), the greenlet first lets the others run:
        one connection cannot keep the process to itself.
        """
        rfile = self.rfile
        connections = getattr(self.server, "connections", None)
        if connections is not None and self.requestline is not None:
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
        line = rfile.readline(MAX_REQUEST_LINE)
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
        if version not in _KNOWN_VERSIONS and not self._check_http_version():
            raise ValueError(f"Invalid http version: {raw_requestline!r}")
        self.headers = headers = self.MessageClass(self.rfile, 0)
        index = headers._lookup()
        framing = httpheaders.body_framing(headers._headers, version, index)
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
        connections = getattr(self.server, "connections", None)
        if connections is not None:
            connections.heads.pop(self, None)
            if length or framing.chunked:
                connections.bodies[self] = connections.loop.now()
        return True

    def _check_http_version(self) -> bool:
        # pywsgi's check parses the version through a generator, for every
        # request; the two versions clients send are known good. (Private to
        # pywsgi too: were it renamed, only this speed-up would be lost.)
        return self.request_version in _KNOWN_VERSIONS or super()._check_http_version()

    def get_environ(self) -> Any:
        """pywsgi's environ; a chunked body is read by :class:`_ChunkedInput`."""
        env = super().get_environ()
        body = self.wsgi_input
        if body.chunked_input:  # (rare)
            chunked = self.wsgi_input = _ChunkedInput(self.rfile, body.socket)
            if env.get("wsgi.input") is body:  # (an upgrade request reads the stream)
                env["wsgi.input"] = chunked
        return env

    def _headers(self) -> Any:
        # pywsgi's get_environ takes its HTTP_* entries from here, rebuilding
        # and re-splitting each header line; plain headers have their pairs.
        # (A private method of pywsgi: were it renamed, only this speed-up
        # would be lost.)
        headers = self.headers
        if type(headers) is _Headers:
            return httpheaders.environ_pairs(headers._headers)
        return super()._headers()

    # -- entry points -------------------------------------------------------

    def run_application(self) -> None:
        request = protocol.parse_request(
            self.environ.get("PATH_INFO", ""),
            self.environ.get("QUERY_STRING", ""),
            self.config.resource,
        )
        if request is None:
            try:
                return super().run_application()
            except NotSocketIORequest:
                # The application's routing sent a request that is not one of
                # a session (/socket.iox, /socket.io.js) to socketio_manage.
                peer_log(
                    "not-socketio",
                    "no Socket.IO session for %s: answered 404",
                    self.environ.get("PATH_INFO", ""),
                )
                if self.headers_sent:
                    self.close_connection = True
                    return None
                self.send_response(text_response(404, "not found"))
                return None
        try:
            response = self._dispatch(request)
            if isinstance(response, _WebsocketSession):
                # Served from here, not from inside _dispatch: the connection's
                # greenlet stays in this call for the whole session, a few
                # frames shallower, without the request's parse.
                transport, socket, application = response
                request = None
                response = transport.do_exchange(socket, "GET", application)
        except Exception:
            log.exception("error while serving %s", self.environ.get("PATH_INFO"))
            if self.headers_sent:
                self.close_connection = True
                return None
            response = text_response(500, "internal server error")
        if response is not None:
            self.send_response(response)
        return None

    def handle_bad_request(self, message: str = "bad request", status: int = 400) -> None:
        """Answer an error as plain text, without a traceback."""
        self.send_response(text_response(status, message, self.environ.get("HTTP_ORIGIN")))

    def send_response(self, response: Response) -> None:
        """Send a :class:`~socketio.protocol.Response`: the one place answers are written."""
        headers = response.headers
        if response.status in (408, 413):
            self._abandon_body()
            headers = [*headers, ("Connection", "close")]
        body = response.body
        if isinstance(body, bytes):
            self._send_whole(response.status, headers, body)
            return
        # A stream goes through pywsgi, which writes each chunk as it comes.
        self.start_response(_status_line(response.status), [*headers, _date_header()])
        self.result = body
        try:
            self.process_result()
        finally:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
            self.result = None  # type: ignore[assignment]  # pywsgi resets it so too

    def _send_whole(self, code: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Write a complete answer, head and body, with one ``send``.

        pywsgi's own path (``start_response``, ``write``) sends the head and
        the body separately, and gevent's ``sendall`` asks the kernel for the
        socket's buffer size on each call: three system calls where one
        does. The head is what pywsgi would write: the same checks, the same
        ``Date``, ``Content-Length`` and HTTP/1.0 ``Connection`` headers, and
        the attributes its access log reads.
        """
        status = _status_line(code)
        lines = ["HTTP/1.1 ", status, "\r\n"]
        logged = []
        connection = None
        length_given = False
        for name, value in headers:
            line, kind, pair = _header_line(name, value)
            lines.append(line)
            logged.append(pair)
            if kind == _CONNECTION:
                connection = value.lower()
            elif kind == _CONTENT_LENGTH:
                length_given = True
        extra = [_date_header()]
        if self.request_version == "HTTP/1.0" and connection is None:
            extra.append(("Connection", "close" if self.close_connection else "keep-alive"))
        elif connection == "close":
            self.close_connection = True
        if not length_given and code not in (204, 304):
            extra.append(("Content-Length", str(len(body))))
        for name, value in extra:
            lines += (name, ": ", value, "\r\n")
            logged.append((name.encode("latin-1"), value.encode("latin-1")))
        lines.append("\r\n")
        data = "".join(lines).encode("latin-1") + body
        # What pywsgi's start_response leaves for its access log (and gunicorn's).
        self.status = status.encode("latin-1")
        self._orig_status = status
        self.code = code
        self.response_headers = logged
        self.headers_sent = True
        sock = self.socket
        try:
            sent = sock.send(data)
            if sent < len(data):
                sock.sendall(memoryview(data)[sent:])
        except OSError as exc:
            self.status = f"socket error: {exc}"  # type: ignore[assignment]  # as pywsgi does
            self.code = -code
            raise
        self.response_length += len(data)

    def _abandon_body(self) -> None:
        """Leave a refused body unread and close the connection after the answer.

        pywsgi would otherwise read (to discard) the whole body, whatever
        length it announces, before the next request on the connection.
        """
        self.close_connection = True
        wsgi_input = self.environ.get("wsgi.input")
        if wsgi_input is not None and hasattr(wsgi_input, "position"):
            wsgi_input.chunked_input = False
            wsgi_input.content_length = wsgi_input.position

    # -- request kinds ------------------------------------------------------

    def _dispatch(self, request: protocol.Request) -> Union[Response, _WebsocketSession, None]:
        origin = self.environ.get("HTTP_ORIGIN")
        if isinstance(request, protocol.Refused):
            return text_response(request.status, request.message, origin)
        if isinstance(request, protocol.Welcome):
            return text_response(200, "Welcome to socket.io.", origin)
        if isinstance(request, protocol.ClientScript):
            return self._client_script(request)
        origins = self.config.origins
        if origins != "*:*" and not protocol.origin_allowed(
            # (hybi-08 websockets send Sec-WebSocket-Origin instead; a browser
            # cannot set it on another request: a Sec- header is forbidden)
            origin or self.environ.get("HTTP_SEC_WEBSOCKET_ORIGIN"),
            origins,
            self.environ.get("HTTP_REFERER"),
        ):
            told = origin or self.environ.get("HTTP_SEC_WEBSOCKET_ORIGIN")
            peer_log(
                "bad-origin",
                "refused request from origin '%s'",
                told if told else f"(none; Referer {self.environ.get('HTTP_REFERER')})",
            )
            if isinstance(request, protocol.Handshake) and request.jsonp is not None:
                return self._jsonp_refusal(request.jsonp, "handshake bad origin")
            return text_response(403, "handshake bad origin")
        if getattr(self.server, "stopping", False) and self._gone_with_the_server(request):
            # Not "7:::1+0" (not handshaken): a 0.9 client takes that for
            # "booted" (its disconnect reason), where a failed request is a
            # lost connection, after which it reconnects (to the next server).
            response = text_response(503, "server shutting down", origin)
            response.headers.append(("Connection", "close"))
            return response
        if isinstance(request, protocol.Handshake):
            method = self.environ.get("REQUEST_METHOD", "GET")
            if method == "OPTIONS":  # a CORS preflight: no session for it
                return Response(200, [*_PREFLIGHT, protocol.NOSNIFF, *cors_headers(origin)], b"")
            if method not in ("GET", "POST"):
                response = text_response(405, "method not allowed", origin)
                response.headers.append(("Allow", "GET, POST, OPTIONS"))
                return response
            return self._handshake(request, origin)
        if isinstance(request, protocol.ForcedDisconnect):
            return self._forced_disconnect(request, origin)
        return self._exchange(request)

    def _gone_with_the_server(self, request: protocol.Request) -> bool:
        """While the server stops: a handshake, or a request for a session it has ended."""
        if isinstance(request, protocol.Handshake):
            return True
        if not isinstance(request, protocol.Exchange):
            return False
        sessid = request.sessid
        # (a session booted between two polls still gets its "0::", as when running)
        return sessid not in self.server.sockets and sessid not in self.server.farewells

    def _client_script(self, request: protocol.ClientScript) -> Response:
        lookup = getattr(self.server, "client_script", None)
        script = lookup(request.name) if lookup is not None else None
        if script is None:
            return clientjs.not_found()
        return script.response(
            self.environ.get("HTTP_IF_NONE_MATCH"), self.environ.get("HTTP_IF_MODIFIED_SINCE")
        )

    def _jsonp_refusal(self, index: int, message: str) -> Response:
        return text_response(200, payload.jsonp_error(index, message), None, JAVASCRIPT)

    def _handshake(self, request: protocol.Handshake, origin: Optional[str]) -> Response:
        authorize = self.config.authorization
        if authorize is not None:
            try:
                allowed = authorize(self.environ)
            except Exception:
                log.exception("authorization hook failed")
                if request.jsonp is not None:
                    return self._jsonp_refusal(request.jsonp, "handshake error")
                return text_response(500, "handshake error", origin)
            if not allowed:
                if request.jsonp is not None:
                    return self._jsonp_refusal(request.jsonp, "handshake unauthorized")
                return text_response(403, "handshake unauthorized", origin)
        socket = self.server.get_socket()
        body = protocol.handshake_body(
            socket.sessid,
            self.config.heartbeat_timeout,
            self.config.close_timeout,
            self.config.transports,
        )
        if request.jsonp is not None:
            return text_response(200, payload.jsonp_wrap(request.jsonp, body), origin, JAVASCRIPT)
        return text_response(200, body, origin)

    def _forced_disconnect(
        self, request: protocol.ForcedDisconnect, origin: Optional[str]
    ) -> Response:
        socket = self.server.sockets.get(request.sessid)
        if socket is not None:
            log.debug("%s: forced disconnect by the client", socket)
            socket._client_left()
        return text_response(200, "", origin)

    def _exchange(self, request: protocol.Exchange) -> Union[Response, _WebsocketSession, None]:
        name = request.transport
        cls = self.handler_types.get(name)
        if cls is None or name not in self.config.transports:
            log.info("refused transport %r", name)
            return text_response(400, "7:::0", self.environ.get("HTTP_ORIGIN"))
        transport = (
            cls(self, self.config, request.jsonp or 0)
            if issubclass(cls, JSONPolling)
            else cls(self, self.config)
        )
        if isinstance(transport, WebsocketTransport):
            return self._websocket_exchange(transport, request.sessid)
        socket = self.server.get_socket(request.sessid)
        if socket is None:
            # A session booted between two polls: its next GET gets the ``0::`` left for it.
            take = getattr(self.server, "take_farewell", None)
            if take is None or self.environ.get("REQUEST_METHOD") != "GET":
                return transport.not_handshaken()
            socket = take(request.sessid)
            if socket is None:
                return transport.not_handshaken()
            return transport.do_exchange(socket, "GET")
        if not socket.connection_established:
            self._open_session(socket, name)
        elif socket.transport_name != name:
            # A live session keeps its connection: a request of another
            # transport (its id in a second tab, or stolen) neither reads nor
            # writes it; the 0.9 client told so handshakes again.
            peer_log(
                "session-in-use",
                "%s: refused a %s request, the session is served by %s",
                socket,
                name,
                socket.transport_name,
            )
            return transport.not_handshaken()
        return transport.do_exchange(socket, self.environ.get("REQUEST_METHOD", "GET"))

    def _websocket_exchange(
        self, transport: WebsocketTransport, sessid: str
    ) -> Union[Response, _WebsocketSession, None]:
        environ = self.environ
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or environ.get("HTTP_UPGRADE", "").lower() != "websocket"
        ):
            return text_response(400, "websocket upgrade required", environ.get("HTTP_ORIGIN"))
        if self.request_version != "HTTP/1.1":  # gevent-websocket would answer "402"
            return text_response(
                400, "websocket upgrade needs HTTP/1.1", environ.get("HTTP_ORIGIN")
            )
        refusal = self.upgrade_websocket()
        if getattr(self, "websocket", None) is None:
            # gevent-websocket has started an error response; send its body.
            self.result = [r.encode() if isinstance(r, str) else r for r in refusal or []]
            try:
                self.process_result()
            finally:
                self.result = None  # type: ignore[assignment]  # pywsgi resets it so too
            return None
        self.write(b"")  # flush the 101 Switching Protocols
        self._release_request()
        socket = self.server.get_socket(sessid)
        if socket is None:
            adopt = getattr(self.server, "adopt_socket", None)
            socket = adopt(sessid, environ) if adopt is not None else None
        if socket is None:
            transport.send_not_handshaken(self.websocket)
            return None
        if socket.connection_established:
            # A live session keeps its connection: a second websocket (or one
            # for a polling session) would take its output. Told to
            # handshake again, a 0.9 client does.
            peer_log(
                "session-in-use",
                "%s: refused a %s connection, the session is served by %s",
                socket,
                transport.name,
                socket.transport_name,
            )
            transport.send_not_handshaken(self.websocket)
            return None
        transport.attach(socket)
        return _WebsocketSession(transport, socket, self._open_session(socket, transport.name))

    # -- session start ------------------------------------------------------

    def _open_session(self, socket: Socket, transport_name: str) -> Optional[Callable[[], None]]:
        """On a session's first transport request: greet the client and start the application.

        A polling or streaming session's application runs in a greenlet of
        its own. A websocket's request lasts as long as its session, so its
        greenlet runs the application too: that is returned, for the
        transport to call (with the request's own environ).
        """
        if socket.connection_established:
            return None
        socket.connection_established = True
        socket.transport_name = transport_name
        socket.put_client_msg("1::")
        manager = getattr(self.server, "manager", None)
        if manager is not None:
            manager.add_socket(socket.sessid, "")
        if transport_name in HEARTBEAT_TRANSPORTS:
            socket._start_heartbeats()
        if transport_name in WEBSOCKET_TRANSPORTS:
            self.environ["socketio"] = socket
            socket.wsgi_app_greenlet = gevent.getcurrent()
            return self._run_application  # (a bound method is lighter than a closure)
        environ = dict(self.environ)
        environ["socketio"] = socket
        socket.wsgi_app_greenlet = gevent.spawn(self._run_application, socket, environ)
        return None

    def _run_application(
        self, socket: Optional[Socket] = None, environ: Optional[dict] = None
    ) -> None:
        """Run the application for ``socket``'s session with ``environ``.

        Without arguments: the session this connection opened, with its environ
        (for a websocket, whose greenlet stays in here for the whole session).
        """
        if environ is None or socket is None:
            environ = self.environ
            socket = environ["socketio"]
        try:
            result = self.application(environ, _ignore_response)
            close = getattr(result, "close", None)
            if close is not None:
                close()
        except Exception:
            log.exception("the application failed while serving %s", socket)
        finally:
            if socket.state in ("NEW", socket.STATE_CONNECTED):
                # Without the application nobody reads the socket's packets.
                socket.kill(detach=True)

    # -- request bodies -----------------------------------------------------

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
        connections = getattr(self.server, "connections", None)
        # The process's memory for bodies is bounded too: a large body counts
        # what it announces, a chunked one what it has sent past SMALL_BODY.
        chunked = getattr(body, "chunked_input", False)
        counted = [0]
        if connections is not None and not chunked and declared > SMALL_BODY:
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
            if connections is not None and self in connections.timed_out:
                raise PayloadError(
                    f"body not received within {self.config.body_timeout}s", status_hint=408
                ) from None
            raise PayloadError(f"unreadable body: {clip(str(exc) or type(exc).__name__)}") from None
        finally:
            if connections is not None and counted[0]:
                connections.release_body(counted[0])
        if connections is not None:
            connections.bodies.pop(self, None)
        if len(data) > limit:
            raise PayloadError(f"body exceeds {limit} bytes", status_hint=413)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"body is not UTF-8: {exc}") from exc

    def _count_body(self, connections: Any, counted: list[int], size: int) -> None:
        """Count ``size`` more bytes of this request's body against ``max_total_body_size``.

        Raises:
            PayloadError: 503, the process is reading too many bodies already
                (the connection closes after the answer, the body unread).
        """
        if not connections.reserve_body(size):
            self._abandon_body()
            peer_log(
                "bodies-full",
                "refused a request body: %d bytes of bodies being read",
                connections.body_bytes,
            )
            raise PayloadError("server busy: too many request bodies", status_hint=503)
        counted[0] += size

    def _read_chunked(
        self, body: Any, limit: int, connections: Any, counted: Optional[list[int]] = None
    ) -> bytes:
        """A chunked body, up to ``limit + 1`` bytes, read a piece at a time.

        pywsgi's reader keeps a bytes object per chunk until a read returns:
        a body of one-byte chunks costs some 40 bytes of memory per byte, and
        its chunk lines are parsed a byte at a time. Small pieces bound both,
        and between two pieces the greenlet lets the others run if the loop
        has not turned meanwhile; a timed-out body stops here even if its
        client keeps sending.
        """
        data = bytearray()
        loop: Any = connections.loop if connections is not None else gevent.get_hub().loop
        turn = loop.now()
        while len(data) <= limit:
            piece = body.read(min(_CHUNKED_PIECE, limit + 1 - len(data)))
            if not piece:
                break
            data += piece
            if connections is not None:
                if self in connections.timed_out:
                    raise TimeoutError("body timeout")
                if counted is not None and len(data) > SMALL_BODY:
                    self._count_body(connections, counted, len(data) - counted[0])
            if loop.now() == turn:
                pause()
            turn = loop.now()
        return bytes(data)

    # -- errors -------------------------------------------------------------

    def _handle_client_error(self, ex: BaseException) -> Any:
        """Refuse a request pywsgi could not read: one short log line, an answer, a close.

        pywsgi's hook for its own parse errors; also called for a body it
        found malformed after the application ran. The answer is sent here,
        where a connection already gone (reset, or ended by a timeout) is
        no error.

        Returns:
            ``None``: pywsgi's ``handle_one_request`` then closes the connection.
        """
        self.close_connection = True
        if isinstance(ex, OSError) and not isinstance(ex, _InvalidClientInput):
            peer_log(
                "read-error",
                "(from %s) connection lost reading a request: %s",
                self.client_address,
                str(ex) or type(ex).__name__,
            )
            return None
        if not isinstance(ex, (ValueError, OSError)):  # not the client's: a bug of ours
            log.error("error while reading a request", exc_info=ex)
        status = getattr(ex, "status_hint", 400)
        text = getattr(ex, "formatted_message", None) or str(ex) or type(ex).__name__
        kind = getattr(ex, "kind", None) or f"bad-request-{type(ex).__name__}"
        peer_log(kind, "(from %s) %s", self.client_address, text)
        if self.headers_sent or self.response_length:
            return None  # (a body found malformed after the answer went)
        self._orig_status = self.status = str(status)  # type: ignore[assignment]
        answer = _error_response(status)
        try:
            self.socket.sendall(answer)
        except OSError:
            return None
        # (pywsgi, after a malformed body, sends a 400 only if nothing was sent)
        self.response_length = len(answer)
        self.log_request()
        return None

    def handle_error(self, t: Any, v: Any, tb: Any) -> None:
        """An exception escaped the application: ours (traceback, 500) or the client's.

        pywsgi calls this for anything its handler did not expect. When the
        client caused it (a body that timed out, was cut short or was
        malformed; a connection reset), it is one short log line and a 408
        or 400 with the connection closed; only our own bugs are logged with
        their traceback and answered 500.
        """
        connections = getattr(self.server, "connections", None)
        timed_out = connections is not None and self in connections.timed_out
        if not timed_out and not _client_caused(v, tb):
            super().handle_error(t, v, tb)
            return
        tb = None
        self.close_connection = True
        status = 408 if timed_out else 400
        peer_log(
            "request-error",
            "(from %s) %d: %s",
            self.client_address,
            status,
            str(v) or type(v).__name__,
        )
        if self.headers_sent or self.response_length:
            return
        self._abandon_body()
        try:
            self._send_whole(status, [("Content-Type", "text/plain"), ("Connection", "close")], b"")
        except OSError:
            pass

    def format_request(self) -> str:
        """pywsgi's access-log line, with the client's request line escaped and clipped."""
        requestline: Optional[str] = self.requestline
        if requestline:
            self.requestline = clip(requestline, _LOGGED_REQUEST_LINE)
        try:
            return super().format_request()
        finally:
            self.requestline = requestline

    # -- websocket upgrade --------------------------------------------------

    def run_websocket(self) -> None:
        """Run the application of a websocket route (gevent-websocket's seam), lighter first."""
        self._release_request()
        super().run_websocket()

    def _release_request(self) -> None:
        """Free what the upgrade request needed and its websocket does not.

        A websocket connection lasts long: pywsgi's buffered reader (2 KiB of
        buffer) and the request's header pairs would stay with it. The
        websocket has taken what the reader held and reads the socket itself;
        what pywsgi reads later (it discards a body, then looks for another
        request) finds an empty stream, and so does the application, in
        ``wsgi.input``. The environ keeps its ``HTTP_*`` entries, and the
        handler its ``headers`` and ``response_headers`` if
        :attr:`log_reads_headers`.
        """
        reader: Any = self.rfile
        spent = _SPENT_INPUT
        connections = getattr(self.server, "connections", None)
        if connections is not None:  # a websocket's reads are its own (heartbeat timeout)
            connections.bodies.pop(self, None)
        self.rfile = spent
        if self.wsgi_input is not None:
            self.wsgi_input.rfile = spent
        environ = self.environ
        if environ.get("wsgi.input") is reader:  # pywsgi's choice for an upgrade
            environ["wsgi.input"] = spent
        if not self.log_reads_headers:
            self.headers = WSGIHandler.headers  # pywsgi's empty headers, as before a request
            self.response_headers = []  # (sent: only pywsgi's log would read them)
        # Most header values are the same for every client of a site (Host,
        # Origin, User-Agent, Upgrade...): the environs of long-lived
        # connections share one string of each.
        for key, value in list(environ.items()):
            if type(value) is str and (key.startswith("HTTP_") or key in _SHARED_ENTRIES):
                if len(value) <= _SHARED_VALUE_SIZE and key not in _UNIQUE_HEADERS:
                    environ[key] = _shared(value)
        self.command = environ.get("REQUEST_METHOD", self.command)
        self.request_version = environ.get("SERVER_PROTOCOL", self.request_version)

    def upgrade_connection(self) -> Any:
        """Accept a websocket upgrade with a :class:`BoundedWebSocket`.

        Same checks as gevent-websocket's own method (``Sec-WebSocket-Version``
        and ``-Key``); the difference is the size-bounded websocket class.
        """
        version = self.environ.get("HTTP_SEC_WEBSOCKET_VERSION")
        if version not in self.SUPPORTED_VERSIONS:
            self.start_response(
                "400 Bad Request", [("Sec-WebSocket-Version", ", ".join(self.SUPPORTED_VERSIONS))]
            )
            return [b"Unsupported WebSocket Version"]
        key = self.environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip()
        try:
            key_ok = len(base64.b64decode(key, validate=True)) == 16
        except ValueError:
            key_ok = False
        if not key_ok:
            self.start_response("400 Bad Request", [])
            return [b"Invalid Sec-WebSocket-Key"]
        self.websocket = BoundedWebSocket(
            self.environ, Stream(self), self, self.config.max_message_size
        )
        self.environ["wsgi.websocket_version"] = version
        self.environ["wsgi.websocket"] = self.websocket
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode("latin-1")).digest())
        self.start_response(
            "101 Switching Protocols",
            [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", accept.decode("latin-1")),
            ],
        )
        return None


_share_attribute_keys(SocketIOHandler)
