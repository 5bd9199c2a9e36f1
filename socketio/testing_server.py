"""The server side of the test client: :class:`FakeServer` and its sessions.

Re-exported by :mod:`socketio.testing`, where tests find it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Optional, Union

import gevent
import gevent.event
from greenlet import getcurrent

from .config import Config
from .manager import BaseManager
from .seams import SessionHost, SessionLogs, deliver_to_session, deliver_volatile_to_session
from .server import make_manager
from .virtsocket import Socket

__all__ = ["FakeServer"]


class FakeServer:
    """What a :class:`~socketio.virtsocket.Socket` needs of its server, without a network.

    It holds ``sockets`` (session id → socket), the :class:`~socketio.config.Config`
    and a :class:`~socketio.manager.MemoryManager` for rooms and broadcast.
    Share one between several :class:`SocketIOTestClient` to test traffic
    between clients.

    Args:
        config: a :class:`~socketio.config.Config` or a dict of settings.
        manager: the room/broadcast manager: an instance or a URL, as for
            :class:`~socketio.server.SocketIOServer` (a new ``MemoryManager`` by
            default). It is started here; :meth:`close` closes it.
        **settings: more settings, as :class:`~socketio.server.SocketIOServer` takes them.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        config: Union[Config, Mapping[str, Any], None] = None,
        manager: Union[BaseManager, str, None] = None,
        **settings: Any,
    ) -> None:
        base = Config.coerce(config)
        self.config: Config = dataclasses.replace(base, extra=dict(base.extra))
        for key, value in settings.items():
            self.config[key] = value
        self.sockets: dict[str, Socket] = {}
        #: the rate-limited log lines of this server's sessions
        self.session_logs = SessionLogs()
        self.manager: BaseManager = make_manager(manager)
        self.manager.set_deliver(self._deliver)
        self.manager.set_volatile_deliver(self._deliver_volatile)
        self.volatile_dropped = 0  #: volatile packets its sessions dropped
        self.manager.start()

    @property
    def resource(self) -> str:
        """The URL path segment Socket.IO is served under."""
        return self.config.resource

    _deliver = deliver_to_session
    _deliver_volatile = deliver_volatile_to_session

    def keep_farewell(self, socket: Socket) -> None:
        """Nothing to keep: a test client's session is a websocket's, never polled."""

    def close(self) -> None:
        """End every session still open and close the manager."""
        for socket in list(self.sockets.values()):
            socket.kill(detach=True)
        self.manager.close()

    def get_socket(self, sessid: str = "") -> Optional[Socket]:
        """The session ``sessid`` (``None`` if unknown); ``''`` makes a new, connected one.

        Unlike the real server, no watcher is started: sessions never time out.
        """
        if sessid:
            return self.sockets.get(sessid)
        socket = _DrivenSocket(self, self.config)
        self.sockets[socket.sessid] = socket
        socket.incr_hits()
        return socket


class _DrivenSocket(Socket):
    """A real Socket, its own :class:`~socketio.dispatcher.DispatchObserver` (nothing overridden)."""

    def __init__(
        self, server: Any, config: Any, error_handler: Optional[Callable[..., Any]] = None
    ) -> None:
        super().__init__(server, config, error_handler)
        self.processed = 0
        self.progress = gevent.event.Event()
        self.errors: list[BaseException] = []
        #: the greenlet running the receiver loop (the application's), once it started
        self.receiver: Any = None
        self.receiving = False
        self.observer = self
        # The test client takes whatever is queued, as a poll held open would:
        # a volatile packet goes when nothing else waits (see put_volatile_msg).
        self._takers = 1

    def receiver_started(self) -> None:
        """The receiver loop started (in the application's greenlet)."""
        self.receiver = getcurrent()
        self.receiving = True
        self.progress.set()

    def receiver_stopped(self) -> None:
        """The receiver loop returned."""
        self.receiving = False
        self.progress.set()

    def packet_handled(self, error: Optional[BaseException]) -> None:
        """A packet was handled; an application error is kept for the test to raise."""
        if error is not None:
            self.errors.append(error)
        self.processed += 1
        self.progress.set()


if TYPE_CHECKING:  # pragma: no cover
    from .server import SocketIOServer

    def _hosts(fake: FakeServer, real: SocketIOServer) -> tuple[SessionHost, SessionHost]:
        return fake, real  # (mypy checks that both give a session what it needs)
