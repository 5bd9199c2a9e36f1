"""Gunicorn workers that serve Socket.IO: ``gunicorn -k socketio.sgunicorn.GeventSocketIOWorker app:app``.

The worker is gunicorn's own gevent worker with :class:`~socketio.server.SocketIOServer`
as its server class. Gunicorn's settings keep their meaning (bind, workers,
timeouts, the access log, TLS); Socket.IO settings come from the worker class,
so a deployment picks them by subclassing::

    class MyWorker(GeventSocketIOWorker):
        resource = "socket.io"
        policy_server = False
        socketio_options = {"heartbeat_interval": 10, "manager": "redis://localhost:6379/0"}

    # gunicorn -k mymodule.MyWorker app:app
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Optional

from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler

from .handler import SocketIOHandler
from .server import SocketIOServer

__all__ = [
    "GeventSocketIOBaseWorker",
    "GeventSocketIOWorker",
    "GunicornSocketIOHandler",
    "GunicornSocketIOServer",
    "NginxGeventSocketIOWorker",
]


class GunicornSocketIOHandler(SocketIOHandler, PyWSGIHandler):
    """The Socket.IO handler, logging requests through gunicorn's access log."""

    # WebSocketHandler's own log_request would shadow gunicorn's in the MRO.
    log_request = PyWSGIHandler.log_request


class GunicornSocketIOServer(SocketIOServer):
    """The server used inside a gunicorn worker.

    On a graceful shutdown gunicorn calls ``close()`` and waits for open
    connections; Socket.IO connections never finish by themselves, so closing
    also ends every session.
    """

    def close(self) -> None:
        for socket in list(self.sockets.values()):
            socket.kill(detach=True)
        super().close()


class GeventSocketIOBaseWorker(GeventPyWSGIWorker):
    """A gunicorn gevent worker whose server is a :class:`SocketIOServer`.

    Override these class attributes in a subclass: ``resource`` (the Socket.IO
    URL segment), ``transports`` (enabled transports, ``None`` for all),
    ``policy_server`` (start a Flash policy server in each worker; off by
    default, as several workers cannot all bind its port) and
    ``socketio_options`` (any other :class:`SocketIOServer` keyword:
    ``heartbeat_interval``, ``origins``, ``manager``...).
    """

    server_class = GunicornSocketIOServer
    wsgi_handler = GunicornSocketIOHandler
    resource: ClassVar[str] = "socket.io"
    transports: ClassVar[Optional[list[str]]] = None
    policy_server: ClassVar[bool] = False
    socketio_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = dict(self.socketio_options)
        options.setdefault("resource", self.resource)
        options.setdefault("transports", self.transports)
        options.setdefault("policy_server", self.policy_server)
        # gunicorn's run() calls server_class(sock, application=..., spawn=...,
        # log=..., handler_class=..., environ=...): add our keywords to those.
        self.server_class = functools.partial(type(self).server_class, **options)  # type: ignore[assignment]


class GeventSocketIOWorker(GeventSocketIOBaseWorker):
    """The default worker: every transport, resource ``socket.io``."""


class NginxGeventSocketIOWorker(GeventSocketIOWorker):
    """A worker for proxies that cannot pass websockets: xhr-polling only."""

    transports = ["xhr-polling"]
