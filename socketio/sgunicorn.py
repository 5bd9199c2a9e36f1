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

import atexit
import contextlib
import functools
import logging
import os
import secrets
import signal
import tempfile
from collections.abc import Iterator
from typing import Any, ClassVar, Optional

import gevent
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler

from . import protocol
from .handler import SocketIOHandler
from .server import SocketIOServer

__all__ = [
    "GeventSocketIOBaseWorker",
    "GeventSocketIOWorker",
    "GunicornSocketIOHandler",
    "GunicornSocketIOServer",
    "NginxGeventSocketIOWorker",
]

log = logging.getLogger(__name__)

#: the signals by which gunicorn's master stops a worker (quick, graceful, quick)
_STOP_SIGNALS = (signal.SIGQUIT, signal.SIGTERM, signal.SIGINT)


class GunicornSocketIOHandler(SocketIOHandler, PyWSGIHandler):
    """The Socket.IO handler, logging requests through gunicorn's access log."""

    # The access-log line goes to gunicorn's log (SocketIOHandler's would
    # write pywsgi's line to the server's log).
    write_access_log = PyWSGIHandler.log_request
    # ... which reads the request's and response's headers when a websocket ends.
    log_reads_headers = True

    def read_requestline(self) -> str:
        """Read the next request line; a graceful shutdown may interrupt the wait for it."""
        # Waiting for the next request on a keep-alive connection: a
        # shutdown loses nothing by dropping the connection here.
        with _interruptible(self.server):
            return super().read_requestline()

    def run_application(self) -> None:
        """Serve the request; a graceful shutdown may interrupt a Socket.IO one."""
        request = protocol.parse_request(
            self.environ.get("PATH_INFO", ""),
            self.environ.get("QUERY_STRING", ""),
            self.config.resource,
        )
        if request is None:  # the application's own request: graceful as usual
            return super().run_application()
        with _interruptible(self.server):
            super().run_application()
        if self.upgraded is not None:
            # Its websocket's session is served next (SocketIOHandler.handle),
            # as interruptible as this request was, until close_socket.
            _interruptible_set(self.server).add(gevent.getcurrent())
        return None

    def close_socket(self) -> None:
        """Close the connection at its end: nothing left there for a shutdown to drop."""
        _interruptible_set(self.server).discard(gevent.getcurrent())
        super().close_socket()


def _interruptible_set(server: Any) -> set[gevent.Greenlet]:
    """The server's greenlets that ``close()`` may end (an empty set if it keeps none)."""
    greenlets = getattr(server, "interruptible", None)
    return greenlets if greenlets is not None else set()


@contextlib.contextmanager
def _interruptible(server: Any) -> Iterator[None]:
    """Mark the current greenlet as one that ``server.close()`` may end."""
    greenlets = _interruptible_set(server)
    current = gevent.getcurrent()
    greenlets.add(current)
    try:
        yield
    finally:
        greenlets.discard(current)


class GunicornSocketIOServer(SocketIOServer):
    """The server used inside a gunicorn worker.

    On a graceful shutdown gunicorn calls ``close()`` and then waits up to
    ``--graceful-timeout`` for open connections. Socket.IO connections never
    finish by themselves, so closing ends every session (as
    ``SocketIOServer.stop()`` does: connections close without ``0::``, so 0.9
    clients reconnect, to another worker or the restarted one), and after
    ``close_grace`` seconds, time for the websocket closing handshakes, it drops the
    connections that are idle between keep-alive requests or still carry
    Socket.IO traffic. Requests of the application itself keep the whole
    graceful timeout.
    """

    #: seconds between ending the sessions and dropping their connections
    close_grace: ClassVar[float] = 0.5

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        #: greenlets serving Socket.IO requests or idle keep-alive connections
        self.interruptible: set[gevent.Greenlet] = set()
        # Each worker (this runs after the fork) listens on a unix socket of
        # its own for its siblings' forwarded polling requests; an explicit
        # ``forward_listener`` (None: off) wins.
        kwargs.setdefault("forward_listener", f"unix:{_WORKERS_DIR}/{os.getpid()}.sock")
        super().__init__(*args, **kwargs)

    def close(self) -> None:
        """End every session (clients reconnect elsewhere), then drop the connections after ``close_grace``."""
        for socket in list(self.sockets.values()):
            socket.kill(detach=True, reconnect=True)
        self.stop_forwarding()
        super().close()
        gevent.spawn_later(self.close_grace, self._drop_connections)

    def _drop_connections(self) -> None:
        greenlets = [g for g in self.interruptible if not g.dead]
        if greenlets:
            log.info("dropping %d Socket.IO or idle connections", len(greenlets))
            gevent.killall(greenlets, block=False)


# Generated when gunicorn's master imports the worker class, before it forks:
# every worker of one master shares it, so a worker can adopt the websocket of
# a session that a sibling handshook (see SocketIOServer.adopt_socket). A new
# master (a restart) makes a new one, which retires the old session ids.
_WORKERS_SECRET = secrets.token_bytes(32)
# Where the workers of this master listen for forwarded requests (made by the
# first worker, readable by this user only; see socketio.forwarding).
_WORKERS_DIR = os.path.join(tempfile.gettempdir(), f"socketio-{os.getpid()}-{secrets.token_hex(4)}")
_MASTER_PID = os.getpid()


@atexit.register
def _remove_workers_dir() -> None:
    if os.getpid() == _MASTER_PID:
        with contextlib.suppress(OSError):
            os.rmdir(_WORKERS_DIR)  # (empty once every worker has stopped)


class GeventSocketIOBaseWorker(GeventPyWSGIWorker):
    """A gunicorn gevent worker whose server is a :class:`SocketIOServer`.

    Override these class attributes in a subclass: ``resource`` (the Socket.IO
    URL segment), ``transports`` (enabled transports, ``None`` for all),
    ``policy_server`` (start a Flash policy server in each worker; off by
    default, as several workers cannot all bind its port) and
    ``socketio_options`` (any other :class:`SocketIOServer` keyword:
    ``heartbeat_interval``, ``origins``, ``manager``...). The workers of one
    master share a ``session_secret`` (unless ``socketio_options`` gives one),
    so a websocket may reach any worker after its handshake.
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
        options.setdefault("session_secret", _WORKERS_SECRET)
        # gunicorn's run() calls server_class(sock, application=..., spawn=...,
        # log=..., handler_class=..., environ=...): add our keywords to those.
        self.server_class = functools.partial(type(self).server_class, **options)  # type: ignore[assignment]
        self._stops_while_booting: list[int] = []

    def init_process(self) -> None:
        """Boot the worker; a stop the master sends before gunicorn's handlers are set is kept.

        Until gunicorn sets the worker's signal handlers (``init_signals``,
        after gevent's monkey-patching, which takes a second on PyPy), the
        worker has the master's, inherited through ``fork``: a stop sent
        meanwhile (the master shutting down, or replacing a worker as it
        boots) would be lost, and the worker would serve on until the master
        kills it at the end of its ``graceful_timeout``. It is noted here
        and delivered again once the handlers are set.
        """
        for signum in _STOP_SIGNALS:
            signal.signal(signum, self._note_stop)
        super().init_process()

    def _note_stop(self, signum: int, _frame: Any) -> None:
        self._stops_while_booting.append(signum)

    def init_signals(self) -> None:
        """Set gunicorn's signal handlers, then deliver any stop that came before them (see :meth:`init_process`)."""
        super().init_signals()
        for signum in self._stops_while_booting:
            os.kill(os.getpid(), signum)
        self._stops_while_booting.clear()


class GeventSocketIOWorker(GeventSocketIOBaseWorker):
    """The default worker: every transport, resource ``socket.io``."""


class NginxGeventSocketIOWorker(GeventSocketIOWorker):
    """A worker for proxies that cannot pass websockets: xhr-polling only."""

    transports = ["xhr-polling"]
