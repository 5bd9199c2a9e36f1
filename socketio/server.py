"""The Socket.IO server: a ``gevent.pywsgi.WSGIServer`` that also owns the sessions.

:class:`SocketIOServer` builds the :class:`~socketio.config.Config` once, keeps
``sockets`` (session id → :class:`~socketio.virtsocket.Socket`), the room and
broadcast manager, and the optional Flash policy server.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Union

from gevent.pywsgi import WSGIServer
from geventwebsocket.handler import WebSocketHandler

from .clientjs import ClientScriptFile, find_client_js
from .config import Config
from .handler import SocketIOHandler
from .manager import BaseManager, MemoryManager
from .policyserver import FlashPolicyServer
from .virtsocket import Socket

__all__ = ["SocketIOServer", "serve", "serve_paste"]

log = logging.getLogger(__name__)


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
        manager: a :class:`~socketio.manager.BaseManager` for rooms and broadcast
            (default: a :class:`~socketio.manager.MemoryManager`).
        ws_handler_class: accepted for compatibility; websocket upgrades are
            done by :class:`~socketio.handler.SocketIOHandler` itself.
        log_file: a path; the access log is appended to it.

    Other keyword arguments go to ``gevent.pywsgi.WSGIServer``.
    """

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
        self._client_scripts: dict[str, Optional[ClientScriptFile]] = {}
        manager: Union[BaseManager, None] = kwargs.pop("manager", None)
        self.manager: BaseManager = manager if manager is not None else MemoryManager()
        self.manager.set_deliver(self._deliver)
        self.ws_handler_class = kwargs.pop("ws_handler_class", WebSocketHandler)
        kwargs.setdefault("handler_class", SocketIOHandler)
        log_file = kwargs.pop("log_file", None)
        if log_file:
            kwargs["log"] = open(log_file, "a")
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
            if socket is not None:
                socket.incr_hits()
            return socket
        socket = Socket(self, self.config)
        while socket.sessid in self.sockets:  # 128 random bits: never in practice
            socket.sessid = Socket(self, self.config).sessid
        self.sockets[socket.sessid] = socket
        socket._spawn_watcher()
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
        if self.policy_server is not None and not self.policy_server.started:
            try:
                self.policy_server.start()
            except OSError as exc:
                log.error(
                    "could not start the Flash policy server on %s: %s",
                    self.config.policy_listener,
                    exc,
                )
        super().start_accepting()

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stop accepting, end every session, and stop the policy server."""
        for socket in list(self.sockets.values()):
            socket.kill(detach=True)
        if self.policy_server is not None:
            self.policy_server.stop()
        super().stop(timeout=timeout)

    def handle(self, socket: Any, address: Any) -> None:
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
