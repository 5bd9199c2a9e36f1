"""The Socket.IO server: a ``gevent.pywsgi.WSGIServer`` that also owns the sessions.

:class:`SocketIOServer` builds the :class:`~socketio.config.Config` once, keeps
``sockets`` (session id → :class:`~socketio.virtsocket.Socket`), the room and
broadcast manager, and the optional Flash policy server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from socket import IPPROTO_TCP, TCP_NODELAY
from typing import Any, Optional, Union

from gevent import Greenlet
from gevent.pywsgi import WSGIServer
from geventwebsocket.handler import WebSocketHandler

from .clientjs import ClientScriptFile, find_client_js
from .config import Config
from .exceptions import ConfigError
from .handler import SocketIOHandler
from .manager import BaseManager, MemoryManager
from .policyserver import FlashPolicyServer
from .sessionid import verify_sessid
from .virtsocket import Socket

__all__ = ["MANAGER_SCHEMES", "SocketIOServer", "make_manager", "serve", "serve_paste"]

log = logging.getLogger(__name__)


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
        self.sockets: dict[str, Socket] = {}
        #: sessions booted between two polls, kept for their next GET (see Socket.detach)
        self.farewells: dict[str, tuple[float, Socket]] = {}
        self._adopted: dict[str, float] = {}
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
        """Return the session ``sessid`` (counting a hit), a new one for ``''``, or ``None``."""
        if sessid:
            socket = self.sockets.get(sessid)
            if socket is not None and socket.ended.is_set():
                # Killed without detach: no longer a session (what was left
                # for its client goes out as a farewell, see Socket.detach).
                socket.detach()
                return None
            if socket is not None:
                socket.incr_hits()
            return socket
        socket = Socket(self, self.config)
        while socket.sessid in self.sockets:  # 128 random bits: never in practice
            socket.sessid = Socket(self, self.config).sessid
        self.sockets[socket.sessid] = socket
        socket._start_clock()
        return socket

    def keep_farewell(self, socket: Socket) -> None:
        """Keep a detached polling session for ``close_timeout`` seconds, for its client's next GET.

        The session was killed while no GET was held, so the ``0::`` it queued
        has no reader yet; :meth:`take_farewell` hands it to that GET.
        """
        now = time.monotonic()
        for sessid, (expiry, _) in list(self.farewells.items()):
            if expiry < now:
                del self.farewells[sessid]
        self.farewells[socket.sessid] = (now + self.config.close_timeout, socket)

    def take_farewell(self, sessid: str) -> Optional[Socket]:
        """The detached session kept by :meth:`keep_farewell` for ``sessid``, once, or ``None``."""
        expiry, socket = self.farewells.pop(sessid, (0.0, None))
        if socket is None or expiry < time.monotonic():
            return None
        return socket

    def adopt_socket(self, sessid: str) -> Optional[Socket]:
        """Take over a session that a sibling process handshook, or return ``None``.

        Several processes sharing one port (gunicorn workers) cannot choose
        which of them receives a client's websocket after its handshake. With
        ``session_secret`` set, a genuine id at most ``close_timeout`` seconds
        old that this process has not served yet becomes a session here. Each
        id is adopted at most once per process.
        """
        secret = self.config.session_secret
        if not secret or sessid in self.sockets:
            return None
        now = time.time()
        for known, expiry in list(self._adopted.items()):
            if expiry < now:
                del self._adopted[known]
        if sessid in self._adopted or not verify_sessid(
            sessid, secret, now, self.config.close_timeout
        ):
            return None
        self._adopted[sessid] = now + self.config.close_timeout + 1
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

    def do_handle(self, *args: Any) -> None:
        """Serve an accepted connection in a greenlet of its own (see ``_ConnectionGreenlet``)."""
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
        handler.handle()


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
