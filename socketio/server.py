"""The Socket.IO server: a ``gevent.pywsgi.WSGIServer`` that also owns the sessions.

:class:`SocketIOServer` builds the :class:`~socketio.config.Config` once, keeps
``sockets`` (session id → :class:`~socketio.virtsocket.Socket`), the room and
broadcast manager, and the optional Flash policy server.
"""

from __future__ import annotations

import errno
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from socket import IPPROTO_TCP, SHUT_RD, SHUT_RDWR, TCP_NODELAY
from typing import Any, Optional, Union

from gevent import Greenlet
from gevent.pywsgi import WSGIServer
from geventwebsocket.handler import WebSocketHandler

from .clientjs import ClientScriptFile, find_client_js
from .config import Config
from .exceptions import ConfigError
from .handler import SocketIOHandler
from .manager import BaseManager, MemoryManager
from .peerlog import PeerLog
from .policyserver import FlashPolicyServer
from .sessionid import issued_at, verify_sessid
from .virtsocket import Socket

__all__ = ["MANAGER_SCHEMES", "SocketIOServer", "make_manager", "serve", "serve_paste"]

log = logging.getLogger(__name__)
peer_log = PeerLog(log)


def _redis_manager(url: str) -> BaseManager:
    from .redis_manager import RedisManager  # lazily: redis-py is optional

    return RedisManager(url)


#: URL scheme → manager factory, for ``SocketIOServer(manager='<url>')``.
MANAGER_SCHEMES: dict[str, Callable[[str], BaseManager]] = {
    "memory": lambda url: MemoryManager(),
    "redis": _redis_manager,
    "rediss": _redis_manager,
    "unix": _redis_manager,
}


def make_manager(manager: Union[BaseManager, str, None]) -> BaseManager:
    """The manager for ``SocketIOServer(manager=...)``: an instance, a URL, or ``None``.

    ``None`` gives a :class:`~socketio.manager.MemoryManager`; a URL whose
    scheme is in :data:`MANAGER_SCHEMES` (``redis://host:6379/0``,
    ``rediss://``, ``unix://``, ``memory://``) builds one.

    Raises:
        ConfigError: an unknown scheme, or the backend cannot be used (see
            :class:`~socketio.redis_manager.RedisManager`).
    """
    if manager is None:
        return MemoryManager()
    if isinstance(manager, str):
        scheme = manager.partition("://")[0].lower()
        factory = MANAGER_SCHEMES.get(scheme)
        if factory is None or "://" not in manager:
            raise ConfigError(
                f"manager: unsupported URL {manager!r}; use one of "
                + ", ".join(f"{name}://" for name in MANAGER_SCHEMES)
            )
        return factory(manager)
    return manager


def _listener_host(listener: Any) -> str:
    """The host part of whatever ``WSGIServer`` accepts as a listener."""
    try:
        return listener.getsockname()[0]
    except AttributeError:
        pass
    try:
        return str(listener[0])
    except (TypeError, IndexError, KeyError):
        pass
    address = getattr(listener, "address", None) or getattr(listener, "cfg_addr", None)
    try:
        return str(address[0])  # type: ignore[index]
    except (TypeError, IndexError):
        return "0.0.0.0"


class _ConnectionGreenlet(Greenlet):
    """The greenlet of one connection: gevent's, lighter for as long as a websocket lasts.

    A websocket's greenlet is parked for the whole connection, and three
    things of gevent's make it keep more than it needs:

    * a copy of its spawning stack: connections are all spawned by the same
      accept loop, so it says nothing (about 170 bytes; gevent's
      ``spawning_stack_limit`` option turns it off, its spawning greenlet and
      ``spawn_tree_locals`` are kept);
    * the task given to ``spawn``, stored in a ``__dict__`` of the instance's
      own (184 bytes): the task is this class's :meth:`_run`;
    * gevent's ``_handle_and_close_when_done`` calls ``handle(*args)``, which
      CPython 3.11 makes through the C API: greenlet keeps a copy of a parked
      greenlet's C stack, and that call makes it about 370 bytes deeper.
    """

    spawning_stack_limit = 0

    @staticmethod
    def _run(
        handle: Callable[..., Any], close: Callable[..., Any], sock: Any, address: Any
    ) -> None:
        try:
            handle(sock, address)
        finally:
            close(sock, address)


_default_spawn = _ConnectionGreenlet.spawn

#: accept's errors that mean the process (or system) has no file descriptor left
_OUT_OF_FILES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: seconds accepting pauses after such an error
_ACCEPT_PAUSE = 0.1
#: connections dropped to make room whose greenlets have not closed them yet;
#: past this many, new connections are refused instead (each one dropped
#: keeps its descriptor until its greenlet runs, and the accept loop takes
#: up to a hundred connections a turn: without this bound a burst of them
#: would outgrow the open-files limit that ``max_connections`` keeps under)
_DROPPING = 32

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Retry-After: 1\r\nContent-Length: 12\r\n\r\nserver busy\n"
)


def _refuse(sock: Any) -> None:
    """Answer a connection 503 and close it, without waiting for anything."""
    raw = getattr(sock, "_sock", sock)  # gevent's socket wraps a non-blocking one
    try:
        raw.send(_BUSY)
        # Unread bytes at close would make the kernel reset the connection,
        # and the client could lose the answer: take what has arrived.
        raw.recv(65536)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class ConnectionTracker:
    """The connections of one server process, and which of them wait on their client.

    Each connection is counted from its accept to its close. While it waits
    for its client it is also in one of three phases, each a dict of
    handler → the loop's time (``loop.now()``, cached for each turn of the
    loop: cheaper than reading a clock) of the phase's start, in the order
    the phases started (a handler leaves a phase before entering the next,
    so each dict stays in time order):

    * ``heads``: reading a request head (from the accept for the first
      request, from its first byte for later ones), ``head_timeout``;
    * ``idle``: kept alive between two requests, ``keepalive_timeout``;
    * ``bodies``: reading a request body, ``body_timeout``.

    A periodic sweep (one libev timer per server, not one per request) ends
    the connections whose phase outlasted its timeout: a head or idle one is
    closed, a body one is shut for reading and marked ``timed_out``, so its
    handler answers 408. Past ``limit`` connections, :meth:`make_room`
    closes the one that has waited longest for a request head. Upgraded
    websockets and held polling requests are in no phase: their own
    heartbeat and polling timeouts govern them.

    Args:
        config: the server's settings (timeouts, ``max_connections``).
        loop: the gevent loop the sweep runs on.
    """

    def __init__(self, config: Config, loop: Any) -> None:
        self.config = config
        self.loop = loop
        #: connections accepted and not yet closed
        self.count = 0
        self.limit = _connection_limit(config.max_connections)
        self.heads: dict[Any, float] = {}
        self.idle: dict[Any, float] = {}
        self.bodies: dict[Any, float] = {}
        #: handlers whose body timed out: they answer 408
        self.timed_out: set[Any] = set()
        #: bytes of request bodies being read, by :meth:`reserve_body`
        self.body_bytes = 0
        #: connections closed by :meth:`make_room` that have not ended yet
        self.dropping: set[Any] = set()
        self._timer: Any = None

    # -- the sweep ----------------------------------------------------------

    def start(self) -> None:
        """Start the periodic sweep (idempotent)."""
        if self._timer is not None:
            return
        config = self.config
        shortest = min(config.head_timeout, config.keepalive_timeout, config.body_timeout)
        period = max(0.05, min(1.0, shortest / 4))
        timer = self.loop.timer(period, period)
        timer.ref = False  # it never keeps the process alive by itself
        timer.start(self.sweep)
        self._timer = timer

    def stop(self) -> None:
        """Stop the periodic sweep."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()
            timer.close()

    def sweep(self) -> None:
        """End every connection whose phase has lasted longer than its timeout."""
        now = self.loop.now()
        config = self.config
        for phase, timeout in (
            (self.heads, config.head_timeout),
            (self.idle, config.keepalive_timeout),
        ):
            while phase:
                handler, since = next(iter(phase.items()))
                if now - since < timeout:
                    break
                del phase[handler]
                peer_log(
                    "head-timeout",
                    "closing a connection from %s: no request within %ss",
                    _peer(handler),
                    timeout,
                )
                _shutdown(handler)
        bodies = self.bodies
        while bodies:
            handler, since = next(iter(bodies.items()))
            if now - since < config.body_timeout:
                break
            del bodies[handler]
            if _body_read(handler):
                continue  # the application is slow, not the client
            peer_log(
                "body-timeout",
                "a request body from %s took over %ss: answering 408",
                _peer(handler),
                config.body_timeout,
            )
            self.timed_out.add(handler)
            _shutdown(handler, SHUT_RD)

    # -- the cap ------------------------------------------------------------

    def make_room(self) -> bool:
        """Close the connection that has waited longest for a request head, if any.

        Returns:
            Whether one was closed (not when too many of those it closed
            have yet to end: see :data:`_DROPPING`).
        """
        if len(self.dropping) >= _DROPPING:
            return False
        heads, idle = self.heads, self.idle
        victim = None
        if heads:
            victim, since = next(iter(heads.items()))
        if idle:
            candidate, idle_since = next(iter(idle.items()))
            if victim is None or idle_since < since:
                victim = candidate
        if victim is None:
            return False
        heads.pop(victim, None)
        idle.pop(victim, None)
        self.dropping.add(victim)
        peer_log(
            "connection-cap",
            "%d connections: closing the one from %s that waited longest for a request",
            self.count,
            _peer(victim),
        )
        _shutdown(victim)
        return True

    # -- the memory of bodies -----------------------------------------------

    def reserve_body(self, size: int) -> bool:
        """Count ``size`` bytes of a body about to be read, if ``max_total_body_size`` allows.

        Returns:
            Whether they were counted; if so, call :meth:`release_body` once
            the body is read (or given up).
        """
        total = self.body_bytes + size
        if total > self.config.max_total_body_size:
            return False
        self.body_bytes = total
        return True

    def release_body(self, size: int) -> None:
        """Stop counting ``size`` bytes counted by :meth:`reserve_body`."""
        self.body_bytes -= size

    def forget(self, handler: Any) -> None:
        """``handler``'s connection has ended: drop it from every phase."""
        self.heads.pop(handler, None)
        self.idle.pop(handler, None)
        self.bodies.pop(handler, None)
        self.timed_out.discard(handler)
        self.dropping.discard(handler)


def _connection_limit(configured: Optional[int]) -> int:
    """``max_connections``, or the open-files limit minus 128 (what the process keeps)."""
    if configured is not None:
        return configured
    try:
        import resource  # (Unix only)

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 1 << 30
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return 1 << 30
    return max(1, soft - 128)


def _peer(handler: Any) -> str:
    address = getattr(handler, "client_address", None)
    return str(address[0]) if isinstance(address, tuple) and address else str(address)


def _shutdown(handler: Any, how: int = SHUT_RDWR) -> None:
    """Wake the greenlet reading ``handler``'s connection with an end of file.

    ``SHUT_RDWR`` ends the connection (its greenlet wakes and closes it);
    ``SHUT_RD`` stops a body's reading but leaves the answer to be written.
    (``close()`` would not do: the handler's reader holds the socket open,
    and the waiting greenlet would not wake.)
    """
    sock = getattr(handler, "socket", None)
    if sock is not None:
        try:
            sock.shutdown(how)
        except OSError:
            pass


def _body_read(handler: Any) -> bool:
    """Whether the handler's request body has been read to its end."""
    body = getattr(handler, "wsgi_input", None)
    if body is None:
        return True
    if body.chunked_input:
        return body.chunk_length == 0
    return body.position >= (body.content_length or 0)


_ABSENT: Any = object()


class _Sessions(dict[str, Any]):
    """``server.sockets`` (session id → Socket): a dict that tells its server when a session leaves.

    Sessions leave by ``del`` (``Socket.detach``) or ``pop``; the server then
    forgets them as pending and, with signed ids, remembers them as ended.
    Reads are a plain dict's.
    """

    __slots__ = ("_left",)

    def __init__(self, left: Callable[[str], None]) -> None:
        super().__init__()
        self._left = left

    def __delitem__(self, sessid: str) -> None:
        dict.__delitem__(self, sessid)
        self._left(sessid)

    def pop(self, sessid: str, default: Any = _ABSENT) -> Any:
        socket = dict.pop(self, sessid, _ABSENT)
        if socket is _ABSENT:
            if default is _ABSENT:
                raise KeyError(sessid)
            return default
        self._left(sessid)
        return socket


class SocketIOServer(WSGIServer):
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

    # gevent's default spawn (``spawn='default'``), with a lighter greenlet; a
    # pool or callable given as ``spawn`` is used as given.
    _spawn = _default_spawn

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        listener = args[0] if args else kwargs.get("listener")
        policy_server = kwargs.pop("policy_server", True)
        policy_listener = kwargs.pop("policy_listener", None)
        if policy_listener is None:
            policy_listener = (_listener_host(listener), 10843)
        kwargs["policy_server"] = policy_server
        kwargs["policy_listener"] = policy_listener
        self.config: Config = Config.from_kwargs(kwargs)
        self.sockets: dict[str, Socket] = _Sessions(self._session_left)
        #: sessions booted between two polls, kept for their next GET (see Socket.detach)
        self.farewells: dict[str, tuple[float, Socket]] = OrderedDict()
        #: handshaken sessions no transport request has reached yet, oldest first
        self._pending: OrderedDict[str, Socket] = OrderedDict()
        #: with signed ids: ids of sessions ended here that could still be adopted
        #: (see adopt_socket), in the order they ended
        self._ended: set[str] = set()
        self._ended_order: deque[str] = deque()
        #: no id issued at or before this time (whole seconds) is adopted
        self._adopt_floor = -1
        #: true from :meth:`stop` until the server starts again: handshakes and
        #: requests for ended sessions get a 503
        self.stopping = False
        self._client_scripts: dict[str, Optional[ClientScriptFile]] = {}
        self.manager: BaseManager = make_manager(kwargs.pop("manager", None))
        self.manager.set_deliver(self._deliver)
        self.ws_handler_class = kwargs.pop("ws_handler_class", WebSocketHandler)
        kwargs.setdefault("handler_class", SocketIOHandler)
        log_file = kwargs.pop("log_file", None)
        if log_file:
            kwargs["log"] = open(log_file, "a", buffering=1)
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
            socket = self.sockets.get(sessid)
            if socket is not None and socket.ended.is_set():
                # Killed without detach: no longer a session (what was left
                # for its client goes out as a farewell, see Socket.detach).
                socket.detach()
                return None
            if socket is not None:
                if not socket.hits:
                    self._pending.pop(sessid, None)
                socket.incr_hits()
            return socket
        socket = Socket(self, self.config)
        while socket.sessid in self.sockets:  # 128 random bits: never in practice
            socket.sessid = Socket(self, self.config).sessid
        self.sockets[socket.sessid] = socket
        pending = self._pending
        pending[socket.sessid] = socket
        if len(pending) > self.config.max_pending_sessions:
            _, oldest = pending.popitem(last=False)
            peer_log(
                "pending-sessions",
                "more than %d sessions handshaken and not connected: the oldest dropped",
                self.config.max_pending_sessions,
            )
            oldest.kill(detach=True)
        socket._start_clock()
        return socket

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
        """Keep ``sessid`` from being adopted again while its signature is fresh.

        At most ``4 * max_pending_sessions`` ids are kept; when one is
        forgotten early to stay within that, every id issued no later than
        it is refused adoption from then on (see :meth:`adopt_socket`).
        """
        issued = issued_at(sessid)
        if issued is None:
            return
        window = self.config.close_timeout + 2
        now = time.time()
        ended, order = self._ended, self._ended_order
        while order:  # (in the order they ended: nearly their issue order)
            first = issued_at(order[0])
            if first is not None and (int(now) - first) & 0xFFFFFFFF <= window:
                break
            ended.discard(order.popleft())
        if sessid in ended or (int(now) - issued) & 0xFFFFFFFF > window:
            return  # (too old to be adopted anyway)
        if len(order) >= 4 * self.config.max_pending_sessions:
            forgotten = order.popleft()
            ended.discard(forgotten)
            self._adopt_floor = max(self._adopt_floor, issued_at(forgotten) or 0)
        ended.add(sessid)
        order.append(sessid)

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
        expiry, socket = self.farewells.pop(sessid, (0.0, None))
        if socket is None or expiry < time.monotonic():
            return None
        return socket

    def adopt_socket(self, sessid: str, environ: Optional[dict] = None) -> Optional[Socket]:
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
        if (issued_at(sessid) or 0) <= self._adopt_floor:
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
                peer_log("adoption-unauthorized", "session %s: adoption unauthorized", sessid)
                return None
            if sessid in self.sockets or sessid in self._ended:
                return None  # adopted, and maybe ended, while the hook ran
        socket = Socket(self, self.config)
        socket.sessid = sessid
        self.sockets[sessid] = socket
        socket._start_clock()
        socket.incr_hits()
        log.debug("adopted session %s handshaken by another process", sessid)
        return socket

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

    def _deliver(self, sessid: str, encoded: str) -> None:
        socket = self.sockets.get(sessid)
        if socket is not None:
            socket.put_client_msg(encoded)

    # -- lifecycle ----------------------------------------------------------

    def start_accepting(self) -> None:
        self.stopping = False
        if self.policy_server is not None and not self.policy_server.started:
            try:
                self.policy_server.start()
            except OSError as exc:
                log.error(
                    "could not start the Flash policy server on %s: %s",
                    self.config.policy_listener,
                    exc,
                )
        start_manager = getattr(self.manager, "start", None)
        if start_manager is not None:
            start_manager()
        self.connections.start()
        super().start_accepting()

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stop accepting, end every session, stop the policy server and close the manager.

        Sessions end as :meth:`Socket.kill(reconnect=True) <socketio.virtsocket.Socket.kill>`
        ends them: their namespaces get ``recv_disconnect``, their connections
        close without ``0::``, so 0.9 clients reconnect to the restarted server.
        From then on, what comes on connections still open for a session
        that has ended, and any handshake, is answered 503 (see ``stopping``).
        """
        self.stopping = True
        for socket in list(self.sockets.values()):
            socket.kill(detach=True, reconnect=True)
        if self.policy_server is not None:
            self.policy_server.stop()
        close_manager = getattr(self.manager, "close", None)
        if close_manager is not None:
            close_manager()
        super().stop(timeout=timeout)
        self.connections.stop()

    def do_read(self) -> Any:
        """Accept a connection; out of file descriptors, make room and pause instead.

        gevent would log a traceback for each failed accept (and retry with
        a growing delay). Here a full file table closes the connection that
        has waited longest for a request head, and accepting pauses for a
        moment; the line is logged once in a while.
        """
        try:
            return super().do_read()
        except OSError as exc:
            if exc.errno not in _OUT_OF_FILES:
                raise
            peer_log(
                "accept-failed",
                "cannot accept connections: %s (%d open)",
                exc.strerror or exc,
                self.connections.count,
            )
            self.connections.make_room()
            self._pause_accepting()
            return None

    def _pause_accepting(self) -> None:
        """Stop accepting for a moment (the listening socket stays readable: no spinning)."""
        WSGIServer.stop_accepting(self)
        timer = self.loop.timer(_ACCEPT_PAUSE)
        timer.start(self._resume_accepting, timer)

    def _resume_accepting(self, timer: Any) -> None:
        timer.close()
        if self.started and not self.closed:
            WSGIServer.start_accepting(self)

    def do_handle(self, *args: Any) -> None:
        """Serve an accepted connection in a greenlet of its own (see ``_ConnectionGreenlet``).

        Past ``max_connections``, the connection that has waited longest for
        a request head is closed to make room, or if there is none the new
        one is answered 503 and closed.
        """
        connections = self.connections
        if connections.count >= connections.limit and not connections.make_room():
            peer_log("busy", "%d connections: refusing a new one with 503", connections.count)
            _refuse(args[0])
            return
        connections.count += 1
        if len(args) != 2 or self._spawn != _default_spawn:
            super().do_handle(*args)
            return
        try:
            _default_spawn(None, self._handle, self.do_close, *args)
        except BaseException:
            self.do_close(*args)
            raise

    def handle(self, socket: Any, address: Any) -> None:
        try:
            # Small packets are the whole traffic: do not let Nagle's algorithm
            # hold a response back for the client's delayed ACK (~40 ms).
            socket.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass  # not TCP (a UNIX socket), or a test double
        handler = self.handler_class(self.config, socket, address, self)
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
