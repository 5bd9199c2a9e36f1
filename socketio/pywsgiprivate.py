"""Every use of gevent.pywsgi's and :mod:`email`'s private API, in one place.

The handler's speed-ups and hostile-client fixes lean on names pywsgi and
:mod:`email` do not promise (``_headers``, ``_check_http_version``,
``_handle_client_error``, ``_orig_status``, ``_InvalidClientInput``, the
``Input`` internals...). They all live here, in :class:`PywsgiHandler` (the
base of :class:`~socketio.handler.SocketIOHandler`) and the helpers below, and
``tests/unit/test_pywsgiprivate.py`` and ``tests/unit/test_request_reading.py``
compare what they do with what stock pywsgi does on the same bytes: a gevent
upgrade that changes any of them fails there first. Were one renamed, only the
speed-up would be lost (each falls back to pywsgi's own path) unless its
comment says otherwise. The memory each trick saves is measured in
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import errno
import functools
import io
import logging
from typing import TYPE_CHECKING, Any, Optional

from gevent import pywsgi
from gevent.pywsgi import Input, OldMessage, WSGIHandler
from geventwebsocket.handler import WebSocketHandler

from . import httpheaders
from .geventsocket import os_socket
from .httpresponse import date_header, error_response, head_lines, status_line
from .peerlog import clip, server_logs
from .runtime import keep_out_of_traces

if TYPE_CHECKING:  # pragma: no cover
    from .httpseam import HandlerServer

__all__ = [
    "HANDLER_ATTRIBUTES",
    "SPENT_INPUT",
    "BoundedInput",
    "Headers",
    "PywsgiHandler",
    "client_caused",
    "share_attribute_keys",
]

# The HTTP layer (this module, socketio.httpreader, socketio.handler) logs
# under one name, the one operators already filter on, and limits repeats
# of each kind of client mistake once for all three, per server (the
# ``http`` log of socketio.peerlog.server_logs(server)).
log = logging.getLogger("socketio.handler")

#: pywsgi's whole answers to a request line too long and to a request it
#: cannot read (its own constants, private: were they renamed, the same bytes)
_REQUEST_TOO_LONG = getattr(
    pywsgi,
    "_REQUEST_TOO_LONG_RESPONSE",
    b"HTTP/1.1 414 Request URI Too Long\r\nConnection: close\r\nContent-length: 0\r\n\r\n",
)
_BAD_REQUEST = getattr(
    pywsgi,
    "_BAD_REQUEST_RESPONSE",
    b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-length: 0\r\n\r\n",
)
#: what :meth:`PywsgiHandler._read_one_request` returns for a request read,
#: and left to the WSGI application
_READ: Any = object()

#: the HTTP versions clients send, known good without pywsgi's parse
KNOWN_VERSIONS = frozenset({"HTTP/1.1", "HTTP/1.0"})
#: characters of a request line kept in the access log
_LOGGED_REQUEST_LINE = 200

# pywsgi's error for a malformed body (chunk framing), private to it: were it
# renamed, such errors would be told by their traceback alone (client_caused)
InvalidClientInput: Any = getattr(pywsgi, "_InvalidClientInput", None) or type(
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


def client_caused(exc: BaseException, tb: Any) -> bool:
    """Whether an exception from the application was caused by the client, not by a bug.

    A malformed body (pywsgi's own error), any error raised while reading
    the request body (pywsgi's ``Input``: cut short, reset), or a reset or
    dropped connection. A bug of the application or ours is anything else.
    """
    if isinstance(exc, InvalidClientInput):
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


SPENT_INPUT = _SpentInput()


class Headers(OldMessage):
    """pywsgi's message object over plain header pairs, looked up through a dict.

    pywsgi and gevent-websocket ask a request's message for a header some
    eight times (``Content-Length``, ``Connection``, ``Upgrade``...), and
    :mod:`email` answers each by lowering every name it holds. Here the
    first value of each lowered name is indexed once. The index is of one
    list of pairs: :mod:`email` methods that change the headers either
    replace that list or go through the methods below, which drop it.
    """

    _index: dict[str, str]
    _indexed: Optional[list[tuple[str, str]]] = None  # the list of pairs ``_index`` was built from

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__()
        self._headers = pairs  # what the email parser would fill

    def lookup(self) -> dict[str, str]:
        """The first value of each header, by lowered name."""
        pairs = self._headers
        if self._indexed is not pairs:
            index: dict[str, str] = {}
            for key, value in pairs:
                index.setdefault(key.lower(), value)
            self._index = index
            self._indexed = pairs
        return self._index

    def pairs(self) -> list[tuple[str, str]]:
        """The header pairs, in the order received."""
        return self._headers

    def get(self, name: str, failobj: Any = None) -> Any:
        """The first value of header ``name`` (any case), or ``failobj``."""
        return self.lookup().get(name.lower(), failobj)

    def __getitem__(self, name: str) -> Any:
        return self.lookup().get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self.lookup()

    def __setitem__(self, name: str, val: Any) -> None:
        super().__setitem__(name, val)
        self._indexed = None

    def set_raw(self, name: str, value: Any) -> None:
        """Append a header as the email API does, and drop the index."""
        super().set_raw(name, value)
        self._indexed = None

    def replace_header(self, _name: str, _value: Any) -> None:
        """Replace a header as the email API does, and drop the index."""
        super().replace_header(_name, _value)
        self._indexed = None


#: every attribute pywsgi, gevent-websocket and this module set on a handler
HANDLER_ATTRIBUTES = (
    "socket", "client_address", "server", "rfile", "config", "time_start", "time_finish",
    "requestline", "response_length", "command", "path", "request_version", "headers",
    "content_length", "close_connection", "wsgi_input", "environ", "application", "status",
    "headers_sent", "result", "response_use_chunked", "connection_upgraded", "_orig_status",
    "code", "response_headers", "websocket", "provided_date", "provided_content_length",
)  # fmt: skip


def share_attribute_keys(cls: type) -> None:
    """Give ``cls``'s instances one table of attribute names, before any handler ends.

    CPython keeps the attribute values of a class's instances in a compact
    array against one table of names per class (up to a limit of CPython's).
    pywsgi ends each connection by popping three attributes from the
    handler's ``__dict__``; if a name new to the table is set on any handler
    after that, CPython gives up the shared table, and every later handler
    gets a dict of its own, for as long as its connection lasts (what that
    costs a websocket is measured in ``benchmarks/RESULTS.md``). Setting every
    name once, on a throwaway instance, fills the table first.
    """
    probe: Any = object.__new__(cls)
    for name in HANDLER_ATTRIBUTES:
        object.__setattr__(probe, name, None)


class BoundedInput(Input):
    """pywsgi's ``Input``, with names for the two of its internals a stricter reader needs."""

    __slots__ = ()

    def _continue(self) -> None:
        """Send ``100 Continue`` if the client waits for it (pywsgi's private method)."""
        self._send_100_continue()

    def _give_up(self) -> None:
        """Mark the body malformed: pywsgi then discards no more of it, and closes."""
        self._chunked_input_error = True  # type: ignore[misc]  # (a slot of pywsgi's Input)
        self.chunk_length = 0  # type: ignore[misc]

    def _ended(self) -> None:
        """Mark the body read to its end (the last chunk and its trailers)."""
        self.chunk_length = 0  # type: ignore[misc]


class PywsgiHandler(WebSocketHandler):
    """gevent-websocket's handler with the speed-ups and error hooks that use pywsgi's insides.

    Subclasses share one table of attribute names (see :func:`share_attribute_keys`).
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
    close_connection: bool
    server: HandlerServer
    result: Any
    time_start: float
    time_finish: float

    #: the access log reads the request's and the response's headers when the
    #: connection ends (gunicorn's does): keep them for a websocket's whole life
    log_reads_headers = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        share_attribute_keys(cls)

    def handle_one_request(self) -> Any:
        """Handle one request as pywsgi does, its reading part apart (see ``_read_one_request``).

        A request served by ``_serve_directly`` ends in there. Any other
        goes on as in pywsgi: its environ is built and ``handle_one_response``
        runs the application.

        On PyPy this function is on the stack of every held poll's greenlet
        and is kept out of JIT traces (see ``socketio.runtime``; a websocket's
        session is served after it has returned, see
        ``SocketIOHandler.handle``): it does as little as it can, and what
        every request does is in ``_read_one_request``, which is compiled.
        """
        result = self._read_one_request()
        if result is not _READ:
            return result
        self.environ = self.get_environ()
        self.application = self.server.application  # type: ignore[attr-defined]  # (pywsgi's server's)
        self.handle_one_response()
        if self.close_connection or self.rfile.closed:
            return None
        return True  # read more requests

    def _read_one_request(self) -> Any:
        """Read a request (pywsgi's ``handle_one_request`` up to the environ); serve it if direct.

        Returns:
            What ``handle_one_request`` returns (``None``: close; ``True``:
            the request was served, read the next; ``(status, answer)``:
            send the answer and close), or ``_READ``: the request is read,
            for the application.
        """
        if self.rfile.closed:
            return None
        try:
            line = self.requestline = self.read_requestline()
        except OSError:
            # (a reset, or a connection ended by a timeout: nothing to answer)
            return None
        if not line:
            return None
        self.response_length = 0
        if len(line) >= pywsgi.MAX_REQUEST_LINE:
            return ("414", _REQUEST_TOO_LONG)
        try:
            if not self.read_request(line):
                return ("400", _BAD_REQUEST)
        except Exception as ex:  # (pywsgi's hook for a request it cannot read)
            return self._handle_client_error(ex)
        if not self._serve_directly():
            return _READ
        if self.close_connection or self.rfile.closed:
            return None
        return True

    def _serve_directly(self) -> bool:
        """Serve the request just read without a WSGI environ or application, if it is such.

        A hook: pywsgi's path for every request here. A subclass answers the
        requests it serves itself (the environ, the answer, the access log),
        and returns whether it did.
        """
        return False

    def _check_http_version(self) -> bool:
        # pywsgi's check parses the version through a generator, for every
        # request; the two versions clients send are known good.
        return self.request_version in KNOWN_VERSIONS or super()._check_http_version()

    def _headers(self) -> Any:
        # pywsgi's get_environ takes its HTTP_* entries from here, rebuilding
        # and re-splitting each header line; plain headers have their pairs.
        headers = self.headers
        if type(headers) is Headers:
            return httpheaders.environ_pairs(headers._headers)
        return super()._headers()

    def _send_whole(self, code: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Write a complete answer, head and body, with one ``send``.

        pywsgi's own path (``start_response``, ``write``) sends the head and
        the body separately, and gevent's ``sendall`` asks the kernel for the
        socket's buffer size on each call: three system calls where one
        does. The head is what pywsgi would write: the same checks, the same
        ``Date``, ``Content-Length`` and HTTP/1.0 ``Connection`` headers, and
        the attributes its access log reads.
        """
        status = status_line(code)
        own = head_lines(headers)
        lines = ["HTTP/1.1 ", status, "\r\n", own.text]
        logged = list(own.logged)
        connection = own.connection
        extra = [date_header()]
        if self.request_version == "HTTP/1.0" and connection is None:
            extra.append(("Connection", "close" if self.close_connection else "keep-alive"))
        elif connection == "close":
            self.close_connection = True
        if not own.length_given and code not in (204, 304):
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

    def _release_request(self) -> None:
        """Free what the upgrade request needed and its websocket does not.

        A websocket connection lasts long: pywsgi's buffered reader (and its
        buffer) and the request's header pairs would stay with it. The
        websocket has taken what the reader held and reads the socket itself;
        what pywsgi reads later (it discards a body, then looks for another
        request) finds an empty stream, and so does the application, in
        ``wsgi.input``. The environ keeps its ``HTTP_*`` entries, and the
        handler its ``headers`` and ``response_headers`` if
        :attr:`log_reads_headers`.
        """
        reader: Any = self.rfile
        spent = SPENT_INPUT
        # a websocket's reads are its own (heartbeat timeout)
        self.server.connections.bodies.pop(self, None)
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

    def close_socket(self) -> None:
        """Close the connection at its end, as pywsgi's ``handle`` does, and let go of it.

        What the client sent and nobody read is read out first (without
        waiting): closing with unread bytes would make the kernel reset the
        connection, and the client could lose the answer it was sent.
        """
        sock = self.socket
        if sock is not None:
            raw = os_socket(sock)
            try:
                if raw is not sock:
                    try:
                        raw.recv(16384)
                    finally:
                        raw.close()
                sock.close()
            except OSError:
                pass
        for name in ("socket", "rfile", "wsgi_input"):
            self.__dict__.pop(name, None)

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
        if isinstance(ex, OSError) and not isinstance(ex, InvalidClientInput):
            server_logs(self.server).http(
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
        server_logs(self.server).http(kind, "(from %s) %s", self.client_address, text)
        if self.headers_sent or self.response_length:
            return None  # (a body found malformed after the answer went)
        self._orig_status = self.status = str(status)  # type: ignore[assignment]
        answer = error_response(status)
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
        timed_out = self in self.server.connections.timed_out
        if not timed_out and not client_caused(v, tb):
            super().handle_error(t, v, tb)
            return
        tb = None
        self.close_connection = True
        status = 408 if timed_out else 400
        server_logs(self.server).http(
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
        """The access-log line pywsgi writes, with the client's request line escaped and clipped."""
        requestline: Optional[str] = self.requestline
        if requestline:
            self.requestline = clip(requestline, _LOGGED_REQUEST_LINE)
        try:
            line: str = super().format_request()
            return line
        finally:
            self.requestline = requestline


# PyPy: on the stack of every held poll's greenlet, parked under it (see
# socketio.runtime; a handshake's or a POST's request takes other paths
# through it, and a guard failing in its trace on the way to the park would
# leave the rest of it to the blackhole interpreter).
keep_out_of_traces(PywsgiHandler.handle_one_request)
