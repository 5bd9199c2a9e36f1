"""The HTTP glue: route ``/<resource>/...`` requests to the handshake or a transport.

:class:`SocketIOHandler` extends gevent-websocket's ``WebSocketHandler`` at its
documented seam, ``run_application``: requests outside the resource reach the
WSGI application untouched (websocket upgrades included, so the application can
use ``environ['wsgi.websocket']`` on its own routes); Socket.IO requests are
classified by :func:`socketio.protocol.parse_request` and answered here.

The handler's bases do the rest: :class:`~socketio.httpreader.RequestReader`
reads requests strictly (RFC 9112), :class:`~socketio.pywsgiprivate.PywsgiHandler`
holds every use of pywsgi's private API, and :mod:`socketio.wshandshake`
checks a websocket upgrade and builds its ``101``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Optional, Union

import gevent
from gevent.pywsgi import WSGIHandler
from geventwebsocket.websocket import Stream

from . import clientjs, httpheaders, payload, protocol, wshandshake
from .config import HEARTBEAT_TRANSPORTS, WEBSOCKET_TRANSPORTS, Config
from .exceptions import NotSocketIORequest, PayloadError, StreamCut
from .forwarding import check_forwarded
from .greeting import warn_unserved
from .httpreader import READ_BUFFER_SIZE, SMALL_BODY, RequestReader, connection_reader
from .httpresponse import date_header, status_line
from .peerlog import server_logs
from .protocol import JAVASCRIPT, Response, cors_headers, text_response
from .pywsgiprivate import BoundedInput, Headers, InvalidClientInput, log, share_attribute_keys
from .runtime import keep_out_of_traces
from .state import LIVE
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
    from .httpseam import HandlerServer
    from .virtsocket import Socket

__all__ = ["READ_BUFFER_SIZE", "SMALL_BODY", "BoundedWebSocket", "SocketIOHandler"]

_PREFLIGHT = [
    ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "Content-Type"),
    ("Access-Control-Max-Age", "86400"),
    ("Content-Length", "0"),
]


#: the transports whose requests of a live session are served directly (see
#: SocketIOHandler._serve_directly), and their methods
_DIRECT_TRANSPORTS = frozenset({"xhr-polling", "jsonp-polling"})
_DIRECT_METHODS = frozenset({"GET", "POST"})
#: headers that send a request the whole way (a body to read in chunks or
#: after a ``100 Continue``, an upgrade): pywsgi's environ and input for those
_NOT_DIRECT_HEADERS = ("transfer-encoding", "expect", "upgrade")
#: the handler's methods a request served directly does without (or calls as
#: they are here): a subclass overriding any of them is not served directly
_DIRECT_SKIPS = (
    "get_environ",
    "run_application",
    "handle_one_response",
    "log_request",
    "write_access_log",
    "format_request",
    "send_response",
    "_route",
)


def _write_nothing(data: bytes) -> None:
    pass


def _ignore_response(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
    """``start_response`` for the application of a session: what it answers goes nowhere.

    (Its transport has answered the request already.)
    """
    return _write_nothing


class _WebsocketSession(NamedTuple):
    """An upgraded connection whose session :meth:`SocketIOHandler.handle` serves (see there)."""

    transport: WebsocketTransport
    session: Socket
    application: Optional[Callable[[], None]]


class SocketIOHandler(RequestReader):
    """Serves Socket.IO requests; everything else goes to the WSGI application.

    It only routes: requests are read by :class:`~socketio.httpreader.RequestReader`
    (and pywsgi's insides are used in :mod:`socketio.pywsgiprivate`), answers
    are :class:`~socketio.protocol.Response` values sent by :meth:`send_response`,
    and a session's exchanges are its transport's.

    Args:
        config: the server's :class:`~socketio.config.Config`.
        sock, address, server: as for ``gevent.pywsgi.WSGIHandler``; ``server``
            provides what :class:`~socketio.httpseam.HandlerServer` describes
            (:class:`~socketio.server.SocketIOServer` does).
    """

    #: true on the forward listener's connections (see socketio.forwarding)
    forwarded: ClassVar[bool] = False
    #: whether polling requests of live sessions are served without the WSGI
    #: machinery (see ``_serve_directly``); false in a subclass that changes
    #: what that path skips, unless it says otherwise
    serves_directly: ClassVar[bool] = True
    #: on those: the signature of the current answer (see ForwardedRequests)
    owner_proof: Optional[str] = None

    #: transport name → transport class
    handler_types: dict[str, type[BaseTransport]] = {
        "websocket": WebsocketTransport,
        "flashsocket": FlashSocketTransport,
        "htmlfile": HTMLFileTransport,
        "xhr-multipart": XHRMultipartTransport,
        "xhr-polling": XHRPollingTransport,
        "jsonp-polling": JSONPolling,
    }

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "serves_directly" not in cls.__dict__:
            # A subclass with its own environ, routing or access log (gunicorn's
            # reads the environ, and interrupts a poll on a graceful shutdown
            # in run_application) has its requests go the whole way.
            cls.serves_directly = cls.serves_directly and all(
                getattr(cls, name) is getattr(SocketIOHandler, name) for name in _DIRECT_SKIPS
            )

    def __init__(
        self, config: Any, sock: Any, address: Any, server: HandlerServer, rfile: Any = None
    ) -> None:
        if rfile is None:
            rfile = connection_reader(sock)
        super().__init__(sock, address, server, rfile)
        self.config: Config = Config.coerce(config)

    @property
    def upgraded(self) -> Optional[_WebsocketSession]:
        """The websocket session this connection carries once its upgrade request is done.

        Set by :meth:`run_application`, served by :meth:`handle`. It is kept
        in pywsgi's ``result`` (the application's answer, which a Socket.IO
        request does not have, reset by pywsgi for each request): a new
        attribute would cost every handler a dict of its own on CPython
        (see :func:`~socketio.pywsgiprivate.share_attribute_keys`).
        """
        result = self.result
        return result if type(result) is _WebsocketSession else None

    @upgraded.setter
    def upgraded(self, value: Optional[_WebsocketSession]) -> None:
        self.result = value  # (see the getter)

    def log_request(self) -> None:
        """Write the access-log line, once the request is done (a websocket's: its session).

        An upgraded connection's line is written when its session ends, as
        when the session was served inside its request (see :meth:`handle`).
        """
        if type(self.result) is not _WebsocketSession:  # (self.upgraded, without a call)
            self.write_access_log()

    def write_access_log(self) -> None:
        """Write the access-log line to the server's ``log`` (pywsgi's behaviour).

        gevent-websocket's handler logs to a logger of its own instead, which
        would ignore ``SocketIOServer(log=None)`` and ``log_file=``.
        """
        if self.server.access_log and self.server.log is not None:
            WSGIHandler.log_request(self)

    # -- entry points -------------------------------------------------------

    def handle(self) -> None:
        """Serve the connection: its requests, then the session of a websocket it became.

        pywsgi's request loop (its ``handle``), with one difference: a
        Socket.IO websocket's session is served here, after pywsgi's request
        handling has returned, not inside it. The connection's greenlet stays
        in this call for the whole session, four frames shallower (pywsgi's
        ``handle``, ``handle_one_request``, ``handle_one_response`` and
        :meth:`run_application`): each frame of an idle websocket's parked
        greenlet costs about 0.9 KiB on PyPy (see ``benchmarks/LOG.md``).
        """
        try:
            while self.socket is not None:
                self.time_start = time.time()
                self.time_finish = 0
                result = self.handle_one_request()
                if result is None:
                    break
                if result is True:
                    continue
                # a refusal pywsgi wrote out (414, 400): sent, then the connection ends
                self.status, body = result
                self.socket.sendall(body)
                if self.time_finish == 0:
                    self.time_finish = time.time()
                self.log_request()
                break
            upgraded = self.upgraded
            if upgraded is not None:
                transport, session, application = upgraded
                del upgraded
                try:
                    transport.do_exchange(session, "GET", application)
                except Exception:
                    log.exception("error while serving the websocket of %s", session)
                finally:
                    self.upgraded = None
                    self.time_finish = time.time()
                    self.log_request()
        finally:
            self.close_socket()

    def close_socket(self) -> None:
        """Close the connection at its end; its websocket, if it became one, stops watching it first.

        A websocket's read watcher stays started between its messages (see
        :mod:`socketio.wsconn`): it must not outlive the descriptor.
        """
        # (set by upgrade_connection only: gevent-websocket's run_application
        # takes the attribute's presence for an upgrade, so no class default)
        websocket: Optional[BoundedWebSocket] = getattr(self, "websocket", None)
        if websocket is not None and self.socket is not None:  # (not closed yet)
            websocket.stop_reading()
        super().close_socket()

    def run_application(self) -> None:
        """Route the request: a Socket.IO one to its transport, any other to the application."""
        request = protocol.parse_request(
            self.environ.get("PATH_INFO", ""),
            self.environ.get("QUERY_STRING", ""),
            self.config.resource,
        )
        if request is None and self.forwarded:  # (siblings forward sessions' requests only)
            request = protocol.Refused(403, "forwarded requests only")
        if request is None:
            try:
                super().run_application()
                return None
            except NotSocketIORequest:
                # The application's routing sent a request that is not one of
                # a session (/socket.iox, /socket.io.js) to socketio_manage.
                server_logs(self.server).http(
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
            response = self._route(request)
            if isinstance(response, _WebsocketSession):
                # Served by handle() once pywsgi is done with this request
                # (see there); no other request follows on the connection.
                self.upgraded = response
                self.close_connection = True
                return None
        except Exception:
            log.exception("error while serving %s", self.environ.get("PATH_INFO"))
            if self.headers_sent:
                self.close_connection = True
                return None
            response = text_response(500, "internal server error")
        if response is not None:
            self.send_response(response)
        return None

    def _serve_directly(self) -> bool:
        """Serve a polling request of a live session here, without the WSGI machinery.

        Such a request (GET or POST on ``xhr-polling`` or ``jsonp-polling``,
        for a session connected on that transport) never reaches the WSGI
        application: pywsgi's environ (its server's base entries, the
        header entries, an input object), its ``handle_one_response`` and
        ``run_application`` would be built and run for nothing but a
        :class:`~socketio.protocol.Response`. It is routed as any other
        (``_route``: the same checks and answers), with an environ of
        the request's own entries (method, path, query, protocol, the
        ``HTTP_*`` headers, ``CONTENT_LENGTH``, ``wsgi.input``), and
        pywsgi's error handling and access log. On PyPy this path is
        compiled whole; pywsgi's is partly kept out of the JIT for the
        websockets' sake (see ``socketio.runtime``).

        Anything else goes pywsgi's way: another request, one forwarded by a
        sibling, a path with escapes (its ``PATH_INFO`` would differ), a
        chunked body, ``Expect``, ``Upgrade``; and every request of a subclass
        that overrides what this path does without (``get_environ``,
        ``run_application``, ``log_request``...: gunicorn's handler, see
        :attr:`serves_directly`).

        Returns:
            Whether the request was served here.
        """
        if not self.serves_directly or self.forwarded or self.command not in _DIRECT_METHODS:
            return False
        target = self.path
        headers = self.headers
        if "%" in target or type(headers) is not Headers:
            return False
        index = headers.lookup()
        for name in _NOT_DIRECT_HEADERS:
            if name in index:
                return False
        path, _, query = target.partition("?")
        request = protocol.parse_request(path, query, self.config.resource)
        if type(request) is not protocol.Exchange or request.transport not in _DIRECT_TRANSPORTS:
            return False
        session = self.server.sockets.get(request.sessid)
        if (
            session is None
            or not session.connection_established
            or session.transport_name != request.transport
            or session.ended.is_set()
        ):
            return False  # (a new, revived, ended or busy session: the whole way)
        body = self.wsgi_input = BoundedInput(self.rfile, self.content_length)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_PROTOCOL": self.request_version,
            "wsgi.input": body,
        }
        length = index.get("content-length")
        if length:
            environ["CONTENT_LENGTH"] = length
        for key, value in httpheaders.environ_pairs(headers.pairs()):
            if key in environ:  # (a repeated header, joined as pywsgi joins it)
                environ[key] += ("; " if key == "HTTP_COOKIE" else ",") + value
            else:
                environ[key] = value
        self.environ = environ
        self._answer_directly(request, body)
        return True

    def _answer_directly(self, request: protocol.Exchange, body: Any) -> None:
        """Route and answer a request read by ``_serve_directly``, as pywsgi would.

        What ``handle_one_response`` and :meth:`run_application` do for it:
        the answer's state reset, the route, a 500 for our own error, the
        unread body discarded, a connection reset or dropped by its client
        closed quietly, the access log.
        """
        self.status = None  # type: ignore[assignment]  # (pywsgi's reset; its result is None between requests)
        self.headers_sent = False
        self.response_use_chunked = False
        self.connection_upgraded = False
        self.response_length = 0
        try:
            try:
                try:
                    response = self._route(request)
                except Exception:
                    log.exception("error while serving %s", self.environ["PATH_INFO"])
                    if self.headers_sent:
                        self.close_connection = True
                        response = None
                    else:
                        response = text_response(500, "internal server error")
                if isinstance(response, Response):  # (never a websocket's session here)
                    self.send_response(response)
            finally:
                try:
                    body._discard()
                except InvalidClientInput:
                    raise
                except OSError:
                    pass  # (as pywsgi: an error discarding does not hide the application's)
        except InvalidClientInput as ex:
            self._handle_client_error(ex)
            self.close_connection = True
        except OSError as ex:
            if ex.args and ex.args[0] in self.ignored_socket_errors:
                self.close_connection = True
            else:
                self.handle_error(*sys.exc_info())
        except BaseException:  # (pywsgi's bare except: its handle_error decides)
            self.handle_error(*sys.exc_info())
        finally:
            self.time_finish = time.time()
            self.log_request()

    def handle_bad_request(self, message: str = "bad request", status: int = 400) -> None:
        """Answer an error as plain text, without a traceback."""
        self.send_response(text_response(status, message, self.environ.get("HTTP_ORIGIN")))

    def send_response(self, response: Response) -> None:
        """Send a :class:`~socketio.protocol.Response`: the one place answers are written."""
        headers = response.headers
        if response.status >= 400 and self.server.metrics is not None:
            self.server.metrics.http_error(response.status)
        if response.status in (408, 413):
            self._abandon_body()
            headers = [*headers, ("Connection", "close")]
        body = response.body
        if isinstance(body, bytes):
            self._send_whole(response.status, headers, body)
            return
        # A stream goes through pywsgi, which writes each chunk as it comes.
        self.start_response(status_line(response.status), [*headers, date_header()])
        self.result = body
        try:
            self.process_result()
        except StreamCut:
            # A relayed stream broke off at its owner: this one is cut short
            # too (closed without the body's end), not ended as if whole.
            self.close_connection = True
        finally:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
            self.result = None  # pywsgi resets it so too

    # -- request kinds ------------------------------------------------------

    def _route(self, request: protocol.Request) -> Union[Response, _WebsocketSession, None]:
        """The answer to a Socket.IO request, or the websocket session to serve."""
        origin = self.environ.get("HTTP_ORIGIN")
        if isinstance(request, protocol.Refused):
            return text_response(request.status, request.message, origin)
        if isinstance(request, protocol.Welcome):
            return text_response(200, "Welcome to socket.io.", origin)
        if isinstance(request, protocol.ClientScript):
            return self._client_script(request)
        if self.forwarded:
            # (polling and streaming requests only: websockets are adopted, never forwarded)
            signed = None
            if (
                isinstance(request, (protocol.Exchange, protocol.ForcedDisconnect))
                and request.transport not in WEBSOCKET_TRANSPORTS
            ):
                signed = check_forwarded(self.config, self.environ, request.sessid)
            if signed is None:
                server_logs(self.server).http(
                    "forward-unsigned", "refused an unsigned forwarded request"
                )
                return text_response(403, "forwarded requests only")
            client, self.owner_proof = signed
            self.client_address = (client, 0)  # (for the access log)
        origins = self.config.origins
        if origins != "*:*" and not protocol.origin_allowed(
            # (hybi-08 websockets send Sec-WebSocket-Origin instead; a browser
            # cannot set it on another request: a Sec- header is forbidden)
            origin or self.environ.get("HTTP_SEC_WEBSOCKET_ORIGIN"),
            origins,
            self.environ.get("HTTP_REFERER"),
        ):
            told = origin or self.environ.get("HTTP_SEC_WEBSOCKET_ORIGIN")
            server_logs(self.server).http(
                "bad-origin",
                "refused request from origin '%s'",
                told if told else f"(none; Referer {self.environ.get('HTTP_REFERER')})",
            )
            if isinstance(request, protocol.Handshake) and request.jsonp is not None:
                return self._jsonp_refusal(request.jsonp, "handshake bad origin")
            return text_response(403, "handshake bad origin")
        if self.server.stopping and self._gone_with_the_server(request):
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
        return (
            sessid not in self.server.sockets
            and sessid not in self.server.farewells
            and self._owner(sessid) is None
        )

    def _client_script(self, request: protocol.ClientScript) -> Response:
        script = self.server.client_script(request.name)
        if script is None:
            return clientjs.not_found()
        return script.response(
            self.environ.get("HTTP_IF_NONE_MATCH"), self.environ.get("HTTP_IF_MODIFIED_SINCE")
        )

    def _jsonp_refusal(self, index: int, message: str) -> Response:
        return text_response(200, payload.jsonp_error(index, message), None, JAVASCRIPT)

    def _handshake(self, request: protocol.Handshake, origin: Optional[str]) -> Response:
        metrics = self.server.metrics
        authorize = self.config.authorization
        if authorize is not None:
            try:
                allowed = authorize(self.environ)
            except Exception:
                log.exception("authorization hook failed")
                if metrics is not None:
                    metrics.handshake("failed")
                if request.jsonp is not None:
                    return self._jsonp_refusal(request.jsonp, "handshake error")
                return text_response(500, "handshake error", origin)
            if not allowed:
                if metrics is not None:
                    metrics.handshake("unauthorized")
                if request.jsonp is not None:
                    return self._jsonp_refusal(request.jsonp, "handshake unauthorized")
                return text_response(403, "handshake unauthorized", origin)
        session = self.server.get_socket()
        assert session is not None  # ('' always gives a new session)
        if metrics is not None:
            metrics.handshake("accepted")
        body = protocol.handshake_body(
            session.sessid,
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
        session = self.server.sockets.get(request.sessid)
        if session is not None:
            log.debug("%s: forced disconnect by the client", session)
            session.client_left()
        else:
            forwarded = self._forward(request.sessid)
            if forwarded is not None:
                return forwarded
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
        if self.server.metrics is not None:
            transport.traffic = self.server.metrics.traffic_for(name)
        transport.deadlines = self.server.connections.polls
        if isinstance(transport, WebsocketTransport):
            return self._websocket_exchange(transport, request.sessid)
        session = self.server.get_socket(request.sessid)
        if session is None:
            # (its owner's: an id another process handshook, with forwarding on)
            forwarded = self._forward(request.sessid)
            if forwarded is not None:
                return forwarded
        if session is None and self.environ.get("REQUEST_METHOD") == "GET":
            # the client's next transport, after a websocket left unserved (socketio.fallbacks)
            session = self.server.revive_socket(request.sessid)
        if session is None:
            # A session booted between two polls: its next GET gets the ``0::`` left for it.
            if self.environ.get("REQUEST_METHOD") != "GET":
                return transport.answer_not_handshaken()
            session = self.server.take_farewell(request.sessid)
            if session is None:
                return transport.answer_not_handshaken()
            return transport.do_exchange(session, "GET")
        if not session.connection_established:
            self._open_session(session, name)
        elif session.transport_name != name:
            # A live session keeps its connection: a request of another
            # transport (its id in a second tab, or stolen) neither reads nor
            # writes it; the 0.9 client told so handshakes again.
            server_logs(self.server).http(
                "session-in-use",
                "%s: refused a %s request, the session is served by %s",
                session,
                name,
                session.transport_name,
            )
            return transport.answer_not_handshaken()
        return transport.do_exchange(session, self.environ.get("REQUEST_METHOD", "GET"))

    # -- requests for a sibling's session (socketio.forwarding) -----------------

    def _owner(self, sessid: str) -> Any:
        """The address of the sibling that owns ``sessid``, if it is to be forwarded there."""
        forwarder = self.server.forwarder
        if forwarder is None or self.forwarded:  # (forwarded once at most)
            return None
        return forwarder.owner_of(sessid)

    def _forward(self, sessid: str) -> Optional[Response]:
        """The answer of the sibling that owns ``sessid``; ``None`` if there is none, or it is gone."""
        owner = self._owner(sessid)
        if owner is None:
            return None
        body = b""
        environ = self.environ
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "POST":
            try:
                body = self.read_body().encode("utf-8")
            except PayloadError as exc:
                return text_response(exc.status_hint, str(exc), environ.get("HTTP_ORIGIN"))
        forwarder = self.server.forwarder
        assert forwarder is not None  # (_owner found the owner)
        return forwarder.forward(owner, sessid, method, self.path, environ, body)

    def _websocket_exchange(
        self, transport: WebsocketTransport, sessid: str
    ) -> Union[Response, _WebsocketSession, None]:
        environ = self.environ
        if not wshandshake.check_upgrade_request(
            environ.get("REQUEST_METHOD"), environ.get("HTTP_UPGRADE")
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
                self.result = None  # pywsgi resets it so too
            return None
        self.write(b"")  # flush the 101 Switching Protocols
        self._release_request()
        session = self.server.get_socket(sessid)
        if session is None:
            session = self.server.adopt_socket(sessid, environ)
        if session is None:
            transport.send_not_handshaken(self.websocket)
            return None
        if session.connection_established:
            # A live session keeps its connection: a second websocket (or one
            # for a polling session) would take its output. Told to
            # handshake again, a 0.9 client does.
            server_logs(self.server).http(
                "session-in-use",
                "%s: refused a %s connection, the session is served by %s",
                session,
                transport.name,
                session.transport_name,
            )
            transport.send_not_handshaken(self.websocket)
            return None
        transport.attach(session)
        return _WebsocketSession(transport, session, self._open_session(session, transport.name))

    # -- session start ------------------------------------------------------

    def _open_session(self, session: Socket, transport_name: str) -> Optional[Callable[[], None]]:
        """On a session's first transport request: greet the client and start the application.

        A polling or streaming session's application runs in a greenlet of
        its own. A websocket's request lasts as long as its session, so its
        greenlet runs the application too: that is returned, for the
        transport to call (with the request's own environ).
        """
        if session.connection_established:
            return None
        session.connection_established = True
        session.transport_name = transport_name
        if self.server.metrics is not None:
            self.server.metrics.connected(transport_name)
        if transport_name not in WEBSOCKET_TRANSPORTS:
            session.put_client_msg("1::")  # (a websocket's waits: see socketio.greeting)
        self.server.manager.add_socket(session.sessid, "")
        if transport_name in HEARTBEAT_TRANSPORTS:
            session.start_heartbeats()
        if transport_name in WEBSOCKET_TRANSPORTS:
            self.environ["socketio"] = session
            session.wsgi_app_greenlet = gevent.getcurrent()
            return self._run_application  # (a bound method is lighter than a closure)
        environ = dict(self.environ)
        environ["socketio"] = session
        session.wsgi_app_greenlet = gevent.spawn(self._run_application, session, environ)
        return None

    def _run_application(
        self, session: Optional[Socket] = None, environ: Optional[dict[str, Any]] = None
    ) -> None:
        """Run the application for ``session`` with ``environ``.

        Without arguments: the session this connection opened, with its environ
        (for a websocket, whose greenlet stays in here for the whole session).
        """
        offered = False
        if environ is None or session is None:
            environ = self.environ
            session = environ["socketio"]
            # A websocket's reader sends 1:: when the receiver loop takes it
            # (see socketio.greeting).
            offered = session.reader is not None
            if not offered:
                session.put_client_msg("1::")
        try:
            result = self.application(environ, _ignore_response)
            close = getattr(result, "close", None)
            if close is not None:
                close()
            if session.state in LIVE and not session.namespaces:
                # socketio_manage would have served the session until its end.
                warn_unserved(self.server, environ.get("PATH_INFO", ""), session.transport_name)
        except Exception:
            log.exception("the application failed while serving %s", session)
        finally:
            ungreeted = offered and session.reader is not None  # (never taken)
            if ungreeted and session.state in LIVE and not session.namespaces:
                self.server.keep_ungreeted(session.sessid)
            if session.state in LIVE:
                # Without the application nobody reads the session's packets.
                # An ungreeted websocket closes without "0::" (which a 0.9
                # client takes as a boot): its client tries the next transport.
                session.kill(detach=True, reconnect=ungreeted)

    # -- websocket upgrade --------------------------------------------------

    def run_websocket(self) -> None:
        """Run the application of a websocket route (gevent-websocket's seam), lighter first."""
        self._release_request()
        super().run_websocket()

    def upgrade_connection(self) -> Any:
        """Accept a websocket upgrade with a :class:`BoundedWebSocket`.

        Same checks as gevent-websocket's own method (``Sec-WebSocket-Version``
        and ``-Key``, see :mod:`socketio.wshandshake`); the difference is the
        size-bounded websocket class.

        Returns:
            ``None`` once ``101`` is started, else the refusal's body (its
            status and headers started).
        """
        environ = self.environ
        version = environ.get("HTTP_SEC_WEBSOCKET_VERSION")
        key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "").strip()
        refusal = wshandshake.check_version(version, self.SUPPORTED_VERSIONS)
        if refusal is None:
            refusal = wshandshake.check_key(key)
        if refusal is not None:
            self.start_response(refusal.status, refusal.headers)
            return [refusal.body]
        config = self.config
        self.websocket = BoundedWebSocket(
            environ, Stream(self), self, config.max_message_size, config.max_message_frames
        )
        environ["wsgi.websocket_version"] = version
        environ["wsgi.websocket"] = self.websocket
        self.start_response("101 Switching Protocols", wshandshake.accept_headers(key))
        return None


share_attribute_keys(SocketIOHandler)

# PyPy: a held GET parks inside _answer_directly (in _route, waiting for
# packets) where a POST does not. Traced from its caller, a guard on that
# difference would fail on the way to the park and leave the rest of the
# request to PyPy's blackhole interpreter, the JIT's slowest mode (see
# socketio.runtime); out of traces, its callees (_route, send_response) are
# compiled each from its own entry, as under pywsgi's run_application.
keep_out_of_traces(SocketIOHandler._answer_directly)
