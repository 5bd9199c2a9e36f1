"""The Socket.IO server: a ``gevent.pywsgi.WSGIServer`` that also owns the sessions.

:class:`SocketIOServer` builds the :class:`~socketio.config.Config` once, keeps
``sockets`` (session id → :class:`~socketio.virtsocket.Socket`), the room and
broadcast manager, and the optional Flash policy server.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from socket import IPPROTO_TCP, TCP_NODELAY
from typing import TYPE_CHECKING, Any, Optional

from gevent.pywsgi import WSGIServer
from geventwebsocket.handler import WebSocketHandler

from .clientjs import ClientScriptFile, find_client_js
from .config import Config
from .connections import AcceptGuard, ConnectionGreenlet, ConnectionTracker, refuse
from .dispatcher import Dispatcher
from .exceptions import ConfigError
from .fallbacks import UngreetedIds
from .forwarding import ForwardedRequests, Forwarder, ForwardListener
from .handler import SocketIOHandler
from .interrupt import watch_sigint
from .manager import BaseManager
from .managers import MANAGER_SCHEMES, make_manager
from .peerlog import ServerLogs
from .policyserver import FlashPolicyServer, listener_host
from .runtime import RECOMMENDED_NURSERY, keep_out_of_traces, oversized_nursery
from .seams import deliver_to_session, deliver_volatile_to_session
from .server_metrics import ServerMetrics
from .sessionid import issued_at, new_sessid, verify_sessid
from .sessions import EndedIds, Sessions
from .transports import WebsocketTransport
from .virtsocket import Socket
from .wsconn import BoundedWebSocket

if TYPE_CHECKING:  # pragma: no cover
    from .httpseam import HandlerServer

__all__ = ["MANAGER_SCHEMES", "SocketIOServer", "make_manager", "serve", "serve_paste"]

log = logging.getLogger(__name__)


_default_spawn = ConnectionGreenlet.spawn

#: the lighter greenlet of a connection (see socketio.connections)
_ConnectionGreenlet = ConnectionGreenlet


class SocketIOServer(ServerMetrics, AcceptGuard, WSGIServer):
    """A WSGI server that serves Socket.IO 0.9 under ``/<resource>/``.

    Args:
        listener: ``(host, port)`` or a listening socket, as for ``WSGIServer``.
        application: the WSGI application; it calls :func:`socketio.socketio_manage`.
        resource: the URL path segment (``'socket.io'``). ``namespace=`` is a
            deprecated alias.
        transports: enabled transport names (all by default).
        policy_server: start a :class:`~socketio.policyserver.FlashPolicyServer`.
        policy_listener: its ``(host, port)``; default the server's host, port 10843.
        heartbeat_interval: and the other settings of :class:`~socketio.config.Config`
            (``heartbeat_timeout``, ``close_timeout``, ``polling_duration``, ``origins``,
            ``authorization``, the size limits, ``client_js``).
        manager: a :class:`~socketio.manager.BaseManager` for rooms and broadcast,
            or a URL (``'redis://localhost:6379/0'`` builds a
            :class:`~socketio.redis_manager.RedisManager`; see :func:`make_manager`).
            Default: a :class:`~socketio.manager.MemoryManager`. The server
            starts it when it starts and closes it when it stops.
        ws_handler_class: accepted for compatibility; websocket upgrades are
            done by :class:`~socketio.handler.SocketIOHandler` itself.
        log_file: a path; the access log is appended to it.

    Other keyword arguments go to ``gevent.pywsgi.WSGIServer``.
    """

    #: pywsgi's access log (``None`` once a ``log_file`` is closed by :meth:`stop`)
    log: Any

    # gevent's default spawn (``spawn='default'``), with a lighter greenlet; a
    # pool or callable given as ``spawn`` is used as given.
    _spawn = _default_spawn

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        listener = args[0] if args else kwargs.get("listener")
        policy_server = kwargs.pop("policy_server", True)
        policy_listener = kwargs.pop("policy_listener", None)
        if policy_listener is None:
            policy_listener = (listener_host(listener), 10843)
        kwargs["policy_server"] = policy_server
        kwargs["policy_listener"] = policy_listener
        self.config: Config = Config.from_kwargs(kwargs)
        #: the rate-limited lines about clients, this server's own (see ServerLogs)
        self.server_logs = ServerLogs()
        self.sockets: dict[str, Socket] = Sessions(self._session_left, self._session_gone)
        #: sessions booted between two polls, kept for their next GET (see Socket.detach)
        self.farewells: dict[str, tuple[float, Socket]] = OrderedDict()
        #: handshaken sessions no transport request has reached yet, oldest first
        self._pending: OrderedDict[str, Socket] = OrderedDict()
        #: with signed ids: ids of sessions ended here that could still be adopted
        #: (see adopt_socket)
        self._ended = EndedIds()
        #: ids of websocket sessions the application left unserved (see revive_socket)
        self._ungreeted = UngreetedIds()
        #: true from :meth:`stop` until the server starts again: handshakes and
        #: requests for ended sessions get a 503
        self.stopping = False
        self._client_scripts: dict[str, Optional[ClientScriptFile]] = {}
        self.manager: BaseManager = make_manager(kwargs.pop("manager", None))
        self.manager.set_deliver(self._deliver)
        self.manager.set_volatile_deliver(self._deliver_volatile)
        self.volatile_dropped = 0  #: volatile packets its sessions dropped
        if self.config.forward_listener is not None and not self.config.session_secret:
            raise ConfigError("forward_listener needs a session_secret shared with the siblings")
        #: hands requests for sibling processes' sessions to them (``forward_listener``)
        self.forwarder: Optional[Forwarder] = None
        self._forward_listener: Optional[ForwardListener] = None
        self._init_metrics()
        self.ws_handler_class = kwargs.pop("ws_handler_class", WebSocketHandler)
        kwargs.setdefault("handler_class", SocketIOHandler)
        #: the path of the access log this server opened (``log_file=``), if any
        self._log_path: Optional[str] = kwargs.pop("log_file", None) or None
        if self._log_path:
            kwargs["log"] = self._open_log()
        #: whether requests are written to the access log (``log=None`` turns it off)
        self.access_log: bool = kwargs.get("log", "default") is not None
        self.policy_server: Optional[FlashPolicyServer] = (
            FlashPolicyServer(self.config.policy_listener) if self.config.policy_server else None
        )
        super().__init__(*args, **kwargs)
        #: the open connections, their timeouts and the cap (see ConnectionTracker)
        self.connections = ConnectionTracker(self.config, self.loop)

    @property
    def resource(self) -> str:
        """The URL path segment Socket.IO is served under."""
        return self.config.resource

    @resource.setter
    def resource(self, value: str) -> None:
        self.config["resource"] = value

    @property
    def transports(self) -> list[str]:
        """The enabled transports."""
        return list(self.config.transports)

    @transports.setter
    def transports(self, value: Any) -> None:
        self.config["transports"] = value

    # -- sessions -----------------------------------------------------------

    def get_socket(self, sessid: str = "") -> Optional[Socket]:
        """Return the session ``sessid`` (counting a hit), a new one for ``''``, or ``None``.

        A new session is pending until its first transport request. Past
        ``max_pending_sessions`` pending sessions, the oldest is dropped:
        a flood of handshakes that never connect costs bounded memory and
        never refuses a new handshake (a 0.9 client connects within
        milliseconds of its handshake; one that was dropped is told to
        handshake again).
        """
        if sessid:
            session = self.sockets.get(sessid)
            if session is not None and session.ended.is_set():
                # Killed without detach: no longer a session (what was left
                # for its client goes out as a farewell, see Socket.detach).
                session.detach()
                return None
            if session is not None:
                if not session.hits:
                    self._pending.pop(sessid, None)
                session.incr_hits()
            return session
        # The id is drawn first, the session built once for it (an id already
        # taken, never seen in practice with 128 random bits, costs a draw).
        secret = self.config.session_secret
        owner = self.forwarder.own if self.forwarder is not None else ""
        sessid = new_sessid(secret, time.time(), owner)
        while sessid in self.sockets:
            sessid = new_sessid(secret, time.time(), owner)
        session = Socket(self, self.config, sessid=sessid)
        self.sockets[sessid] = session
        pending = self._pending
        pending[sessid] = session
        if len(pending) > self.config.max_pending_sessions:
            _, oldest = pending.popitem(last=False)
            self.server_logs.server(
                "pending-sessions",
                "more than %d sessions handshaken and not connected: the oldest dropped",
                self.config.max_pending_sessions,
            )
            oldest.kill(detach=True)
        session.start_clock()
        return session

    @property
    def pending_sessions(self) -> int:
        """How many sessions are handshaken and not yet reached by a transport request."""
        return len(self._pending)

    def _session_left(self, sessid: str) -> None:
        """``sessid`` left :attr:`sockets` (ended, or dropped)."""
        self._pending.pop(sessid, None)
        if self.config.session_secret:
            self._remember_ended(sessid)

    def _remember_ended(self, sessid: str) -> None:
        """Keep ``sessid`` from being adopted again while its signature is fresh (see EndedIds)."""
        config = self.config
        self._ended.remember(
            sessid, config.close_timeout + 2, 4 * config.max_pending_sessions, time.time()
        )

    def keep_farewell(self, socket: Socket) -> None:
        """Keep a detached polling session for ``close_timeout`` seconds, for its client's next GET.

        The session was killed while no GET was held, so the ``0::`` it queued
        has no reader yet; :meth:`take_farewell` hands it to that GET.
        """
        now = time.monotonic()
        farewells = self.farewells
        while farewells:  # (oldest first: expiring them costs what keeping them did)
            sessid, (expiry, _) = next(iter(farewells.items()))
            if expiry >= now:
                break
            del farewells[sessid]
        farewells.pop(socket.sessid, None)
        farewells[socket.sessid] = (now + self.config.close_timeout, socket)

    def take_farewell(self, sessid: str) -> Optional[Socket]:
        """The detached session kept by :meth:`keep_farewell` for ``sessid``, once, or ``None``."""
        expiry, session = self.farewells.pop(sessid, (0.0, None))
        if session is None or expiry < time.monotonic():
            return None
        return session

    def adopt_socket(
        self, sessid: str, environ: Optional[dict[str, Any]] = None
    ) -> Optional[Socket]:
        """Take over a session that a sibling process handshook, or return ``None``.

        Several processes sharing one port (gunicorn workers) cannot choose
        which of them receives a client's websocket after its handshake. With
        ``session_secret`` set, a genuine id at most ``close_timeout`` seconds
        old becomes a session here if this process has not served it yet
        (an id that ended here stays ended) and if ``authorization``, when
        set, allows ``environ``, the request's (the hook stands in for the
        handshake's, which the sibling ran on another request).
        """
        secret = self.config.session_secret
        if not secret or sessid in self.sockets or sessid in self._ended:
            return None
        if not verify_sessid(sessid, secret, time.time(), self.config.close_timeout):
            return None
        if (issued_at(sessid) or 0) <= self._ended.floor:
            return None
        authorize = self.config.authorization
        if authorize is not None:
            if environ is None:
                return None
            try:
                allowed = authorize(environ)
            except Exception:
                log.exception("authorization hook failed")
                return None
            if not allowed:
                self.server_logs.server(
                    "adoption-unauthorized", "session %s: adoption unauthorized", sessid
                )
                return None
            if sessid in self.sockets or sessid in self._ended:
                return None  # adopted, and maybe ended, while the hook ran
        session = Socket(self, self.config, sessid=sessid)
        self.sockets[sessid] = session
        session.start_clock()
        session.incr_hits()
        log.debug("adopted session %s handshaken by another process", sessid)
        return session

    def keep_ungreeted(self, sessid: str) -> None:
        """Let :meth:`revive_socket` serve ``sessid`` again (see :mod:`socketio.fallbacks`)."""
        limits = (self.config.close_timeout, self.config.max_pending_sessions)
        self._ungreeted.keep(sessid, time.monotonic(), *limits)

    def revive_socket(self, sessid: str) -> Optional[Socket]:
        """A new session under an id :meth:`keep_ungreeted` kept (once), or ``None``."""
        if sessid in self.sockets or not self._ungreeted.take(sessid, time.monotonic()):
            return None
        session = Socket(self, self.config, sessid=sessid)
        self.sockets[sessid] = session
        session.start_clock()
        session.incr_hits()
        return session

    def client_script(self, name: str = "socket.io.js") -> Optional[ClientScriptFile]:
        """The browser client file served at ``/<resource>/<name>``, or ``None`` if not installed."""
        if name not in self._client_scripts:
            path = find_client_js(self.config.client_js, name)
            try:
                self._client_scripts[name] = ClientScriptFile(path) if path else None
            except OSError as exc:
                log.error("cannot read the browser client %s: %s", path, exc)
                self._client_scripts[name] = None
        return self._client_scripts[name]

    _deliver = deliver_to_session
    _deliver_volatile = deliver_volatile_to_session

    # -- lifecycle ----------------------------------------------------------

    def _open_log(self) -> Any:
        """Open the ``log_file`` access log for appending, a line at a time."""
        assert self._log_path
        return open(self._log_path, "a", buffering=1)  # (closed by stop)

    def start_accepting(self) -> None:
        """Accept connections again (reopening the ``log_file`` after a stop) and start the policy server."""
        self.stopping = False
        if self._log_path and self.log is None:
            self.log = self._open_log()  # (started again after a stop)
        if self.policy_server is not None and not self.policy_server.started:
            try:
                self.policy_server.start()
            except OSError as exc:
                log.error(
                    "could not start the Flash policy server on %s: %s",
                    self.config.policy_listener,
                    exc,
                )
        nursery = oversized_nursery()
        if nursery is not None:
            log.warning(
                "PyPy's nursery is %d MB per process, sized from the CPU cache /proc/cpuinfo"
                " reports; young garbage is freed only when it fills: set PYPY_GC_NURSERY"
                " (%s, say) to choose it",
                nursery // 2**20,
                RECOMMENDED_NURSERY,
            )
        start_manager = getattr(self.manager, "start", None)
        if start_manager is not None:
            start_manager()
        self.connections.start()
        self._start_forwarding()
        super().start_accepting()

    def _start_forwarding(self) -> None:
        """Listen for forwarded requests (``forward_listener``), once."""
        address = self.config.forward_listener
        if address is None or self._forward_listener is not None:
            return
        listener = ForwardListener(address, self._handle_forwarded)
        listener.start()
        self._forward_listener = listener
        self.forwarder = Forwarder(self.config, str(listener.address), self.server_logs)
        log.info("serving forwarded requests on %s", listener.address)

    def stop_forwarding(self) -> None:
        """Close the forward listener: this process's sessions can no longer be reached from its siblings."""
        if self._forward_listener is not None:
            self._forward_listener.close()
            self._forward_listener = None

    def serve_forever(self, stop_timeout: Optional[float] = None) -> None:
        """Serve until stopped; Ctrl-C stops the server, logs one line and returns.

        No ``KeyboardInterrupt`` and no traceback, unless the application has
        a SIGINT handler of its own (see :func:`~socketio.interrupt.watch_sigint`).
        """
        watcher = watch_sigint(self._interrupted)
        try:
            super().serve_forever(stop_timeout=stop_timeout)
        finally:
            if watcher is not None:
                watcher.cancel()

    def _interrupted(self) -> None:
        """SIGINT while serving forever: close the listener, so that the server stops."""
        if self.closed:
            return  # (stopping already)
        log.info("interrupted: stopping the server (its sessions told to reconnect)")
        self.close()

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stop accepting, end every session, stop the policy server and close the manager.

        Sessions end as :meth:`Socket.kill(reconnect=True) <socketio.virtsocket.Socket.kill>`
        ends them: their namespaces get ``recv_disconnect``, their connections
        close without ``0::``, so 0.9 clients reconnect to the restarted server.
        From then on, what comes on connections still open for a session
        that has ended, and any handshake, is answered 503 (see ``stopping``).
        """
        self.stopping = True
        for session in list(self.sockets.values()):
            session.kill(detach=True, reconnect=True)
        if self.policy_server is not None:
            self.policy_server.stop()
        self.stop_forwarding()
        close_manager = getattr(self.manager, "close", None)
        if close_manager is not None:
            close_manager()
        super().stop(timeout=timeout)
        self.connections.stop()
        if self._log_path and self.log is not None:
            # The file this server opened (``log_file=``). With no log, a
            # handler still ending writes no line (see SocketIOHandler.log_request).
            log_file, self.log = self.log, None
            log_file.close()

    def do_handle(self, *args: Any) -> None:
        """Serve an accepted connection in a greenlet of its own (see ``_ConnectionGreenlet``).

        Past ``max_connections``, the connection that has waited longest for
        a request head is closed to make room, or if there is none the new
        one is answered 503 and closed.
        """
        if not self._admit(args[0]):
            return
        if len(args) != 2 or self._spawn != _default_spawn:
            super().do_handle(*args)
            return
        try:
            _default_spawn(None, self._handle, self.do_close, *args)
        except BaseException:
            self.do_close(*args)
            raise

    def _admit(self, sock: Any) -> bool:
        """Count a new connection, or refuse it (503) past ``max_connections``."""
        connections = self.connections
        if connections.count >= connections.limit and not connections.make_room():
            self.server_logs.server(
                "busy", "%d connections: refusing a new one with 503", connections.count
            )
            refuse(sock)
            return False
        connections.count += 1
        return True

    def handle(self, socket: Any, address: Any) -> None:
        """Serve one accepted TCP connection (``socket`` is the connection, not a session)."""
        _no_delay(socket)
        handler = self.handler_class(self.config, socket, address, self)
        # _serve, written out: one frame fewer on the stack of every idle
        # websocket's greenlet (about 0.9 KiB each on PyPy, see socketio.runtime)
        connections = self.connections
        connections.heads[handler] = connections.loop.now()
        try:
            handler.handle()
        finally:
            connections.forget(handler)

    def _handle_forwarded(self, socket: Any, address: Any) -> None:
        """Serve a connection of the forward listener: requests that siblings forward here."""
        cls = self._forwarded_handler_class
        if cls is None:
            base = self.handler_class
            cls = type(f"Forwarded{base.__name__}", (ForwardedRequests, base), {})
            self._forwarded_handler_class = cls
        if not self._admit(socket):  # (siblings' forwards count as connections do)
            return
        _no_delay(socket)
        try:
            self._serve(socket, cls(self.config, socket, address or ("", 0), self))
        finally:
            self.connections.count -= 1

    _forwarded_handler_class: Any = None

    def _serve(self, socket: Any, handler: Any) -> None:
        connections = self.connections
        # its first request's head is due within head_timeout of the accept
        connections.heads[handler] = connections.loop.now()
        try:
            handler.handle()
        finally:
            connections.forget(handler)

    def do_close(self, *args: Any) -> None:
        """Close an accepted connection (after its handler, or if it could not start)."""
        self.connections.count -= 1
        super().do_close(*args)


def _no_delay(socket: Any) -> None:
    try:
        # Small packets are the whole traffic: do not let Nagle's algorithm
        # hold a response back for the client's delayed ACK (~40 ms).
        socket.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # not TCP (a UNIX socket), or a test double


_TRUE = {"true", "yes", "on", "1", "enable", "enabled"}


def serve(app: Any, **kw: Any) -> None:
    """Run ``app`` on a :class:`SocketIOServer` until interrupted.

    Keywords: ``host`` (``127.0.0.1``), ``port`` (6543), ``resource``,
    ``transports`` (a comma-separated string or a list), ``policy_server``
    (false by default here), ``policy_listener_host``, ``policy_listener_port``;
    any other keyword goes to the server.
    """
    quiet = kw.pop("_quiet", False)
    if not quiet:
        logging.basicConfig(level=logging.INFO)
    host = kw.pop("host", "127.0.0.1")
    port = int(kw.pop("port", 6543))
    transports = kw.pop("transports", None)
    if isinstance(transports, str):
        transports = [t.strip() for t in transports.split(",") if t.strip()]
    policy_server = str(kw.pop("policy_server", False)).lower() in _TRUE
    policy_host = kw.pop("policy_listener_host", host)
    policy_port = int(kw.pop("policy_listener_port", 10843))
    if policy_server:
        kw["policy_listener"] = (policy_host, policy_port)
    server = SocketIOServer(
        (host, port), app, transports=transports, policy_server=policy_server, **kw
    )
    log.info("serving on http://%s:%s", host, port)
    server.serve_forever()


def serve_paste(app: Any, global_conf: Any, **kw: Any) -> int:
    """The ``paste.server_runner`` entry point (``use = egg:gevent-socketio#paster``)."""
    serve(app, **kw)
    return 0


# PyPy: the functions a websocket's greenlet stays in, from its start to
# its wait for the next message (see socketio.runtime).
keep_out_of_traces(
    ConnectionGreenlet._run,
    SocketIOServer.handle,
    SocketIOHandler.handle,
    WebsocketTransport.do_exchange,
    SocketIOHandler._run_application,
    Dispatcher.receiver_loop,
    WebsocketTransport._read_for_receiver,
    WebsocketTransport._read_and_dispatch,
    BoundedWebSocket.wait_message,
)

if TYPE_CHECKING:  # pragma: no cover

    def _check(server: SocketIOServer) -> HandlerServer:
        """Tell mypy that the server provides what its handler needs."""
        return server
