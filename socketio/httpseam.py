"""What the HTTP handler needs from its server: :class:`HandlerServer`.

:class:`~socketio.handler.SocketIOHandler` is built by its server (pywsgi's
``handler_class``) and uses the server's sessions, connection tracker, manager
and access-log switch through this interface alone.
:class:`~socketio.server.SocketIOServer` provides it (mypy checks that, see
``_check`` in :mod:`socketio.server`); a server that does not (gevent's plain
``WSGIServer``, which would not even pass the handler its ``config``) cannot
run the handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from .clientjs import ClientScriptFile
    from .connections import ConnectionTracker
    from .forwarding import Forwarder
    from .manager import BaseManager
    from .metrics import Metrics
    from .virtsocket import Socket

__all__ = ["HandlerServer"]


class HandlerServer(Protocol):
    """The server side of :class:`~socketio.handler.SocketIOHandler`."""

    @property
    def log(self) -> Any:
        """The access log pywsgi writes to (``None``: no access log)."""

    @property
    def access_log(self) -> bool:
        """Whether requests are written to the access log."""

    @property
    def stopping(self) -> bool:
        """True while the server stops: handshakes and requests of ended sessions get 503."""

    @property
    def connections(self) -> ConnectionTracker:
        """The open connections, their timeouts and the cap."""

    @property
    def metrics(self) -> Optional[Metrics]:
        """The server's counters, or ``None`` with metrics off (see :mod:`socketio.metrics`)."""

    @property
    def forwarder(self) -> Optional[Forwarder]:
        """Forwards requests for sibling processes' sessions, or ``None`` (see :mod:`socketio.forwarding`)."""

    @property
    def manager(self) -> BaseManager:
        """Rooms and broadcast: a session joins it when its first transport request comes."""

    @property
    def sockets(self) -> Mapping[str, Socket]:
        """The live sessions, by id."""

    @property
    def farewells(self) -> Mapping[str, tuple[float, Socket]]:
        """Sessions booted between two polls, kept for their next GET."""

    def get_socket(self, sessid: str = "") -> Optional[Socket]:
        """The session ``sessid`` (counting a hit), a new one for ``''``, or ``None``."""

    def take_farewell(self, sessid: str) -> Optional[Socket]:
        """The booted polling session kept for ``sessid``, once, or ``None``."""

    def adopt_socket(
        self, sessid: str, environ: Optional[dict[str, Any]] = None
    ) -> Optional[Socket]:
        """Take over a session a sibling process handshook, or return ``None``."""

    def keep_ungreeted(self, sessid: str) -> None:
        """Keep the id of a websocket session its application left unserved (see revive_socket)."""

    def revive_socket(self, sessid: str) -> Optional[Socket]:
        """A new session under an id :meth:`keep_ungreeted` kept, once, or ``None``."""

    def client_script(self, name: str = "socket.io.js") -> Optional[ClientScriptFile]:
        """The browser client file served at ``/<resource>/<name>``, or ``None``."""
