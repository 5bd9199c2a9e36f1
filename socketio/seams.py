"""The typed seams of the session layer: what a session needs from the objects around it.

* :class:`SessionHost`: what a session needs from its server. Both
  :class:`~socketio.server.SocketIOServer` and
  :class:`~socketio.testing.FakeServer` satisfy it (mypy checks that, see the
  end of :mod:`socketio.testing`). A bare object with a ``sockets`` dict still
  serves (users' tests build ``Socket(server, {})`` so): the members it may
  lack are read through :func:`host_manager` and :func:`host_keep_farewell`,
  the only places that probe.
* :class:`Output`: where a transport that writes straight to its connection
  takes the session's packets.
* :class:`TransportHost`: what a transport needs from the HTTP handler serving
  its request.
* :class:`SessionLogs`: the rate-limited logs of a server's sessions, kept per
  server (see :func:`session_logs`), not per module.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Optional, Protocol

from .peerlog import PeerLog, logs_of

if TYPE_CHECKING:  # pragma: no cover
    from .manager import BaseManager
    from .virtsocket import Socket

__all__ = [
    "Output",
    "SessionHost",
    "SessionLogs",
    "TransportHost",
    "count_volatile_drop",
    "deliver_to_session",
    "deliver_volatile_to_session",
    "host_keep_farewell",
    "host_manager",
    "session_logs",
]

log = logging.getLogger("socketio.virtsocket")  # (the lines keep the logger they always had)


class SessionHost(Protocol):
    """What a session needs from its server."""

    @property
    def sockets(self) -> MutableMapping[str, Socket]:
        """Session id -> live session; a session leaves it when detached."""

    @property
    def manager(self) -> BaseManager:
        """Rooms and broadcast."""

    def keep_farewell(self, socket: Socket) -> None:
        """Keep a polling session killed between two polls for its client's next GET."""


class Output(Protocol):
    """Where a transport that writes directly takes the session's packets.

    ``write(None)`` means the session ended: close the connection.
    """

    @property
    def backlog(self) -> int:
        """Packets accepted but not yet written (a slow consumer has many)."""

    @property
    def backlog_bytes(self) -> int:
        """Bytes of those packets (0 if the output does not count them)."""

    def write(self, msg: Optional[str]) -> None:
        """Write one encoded packet without blocking, in order."""


class TransportHost(Protocol):
    """What a transport needs from the HTTP handler serving its request."""

    environ: dict[str, Any]
    #: the upgraded connection (websocket transports only)
    websocket: Any

    def read_body(self) -> str:
        """The request body as text (bounded by ``max_body_size``)."""


class SessionLogs:
    """The rate-limited log lines of one server's sessions.

    Kept per server so that two servers (or two tests) do not share their
    counts, and nothing mutable lives at module level.
    """

    __slots__ = (
        "app_errors",
        "client_errors",
        "namespace_packets",
        "rate_limits",
        "slow_consumers",
    )

    def __init__(self) -> None:
        #: client mistakes answered with an error packet: one line per kind
        #: every ten seconds, client text escaped and clipped
        self.client_errors = PeerLog(log)
        #: slow consumers: one line per second at most
        self.slow_consumers = PeerLog(log, interval=1.0, level=logging.WARNING)
        #: sessions past their rate limit (once each): one line per second at
        #: most, however many sessions flood at once
        self.rate_limits = PeerLog(log, interval=1.0, level=logging.WARNING)
        #: packets a namespace cannot use (unknown type, ack for an unknown id)
        self.namespace_packets = PeerLog(logging.getLogger("socketio.namespace"))
        #: (type, file, line) -> [monotonic time of its last traceback, repeats left out]
        self.app_errors: dict[tuple[Any, ...], list[Any]] = {}


def session_logs(server: Any) -> SessionLogs:
    """The :class:`SessionLogs` of ``server``, made and hung on it when first asked for.

    A server that cannot take the attribute (a bare ``object()``, say) gets a
    fresh one each time: its sessions' lines are not rate-limited together.
    """
    return logs_of(server, "session_logs", SessionLogs)


def deliver_to_session(host: SessionHost, sessid: str, encoded: str) -> None:
    """Queue ``encoded`` for the session ``sessid`` of ``host``, if it is still there.

    What a server gives its manager to deliver with
    (:meth:`~socketio.manager.BaseManager.set_deliver`). The real server and
    the test client's fake both take this one function as their ``_deliver``
    method (a class attribute: a broadcast calls it once per member, and a
    method that called it would add a call to each).
    """
    session = host.sockets.get(sessid)
    if session is not None:
        session.put_client_msg(encoded)


def deliver_volatile_to_session(host: SessionHost, sessid: str, encoded: str) -> None:
    """Hand ``encoded`` to the session ``sessid`` of ``host`` if its client can take it now.

    The volatile twin of :func:`deliver_to_session`, what a server gives its
    manager for volatile emits
    (:meth:`~socketio.manager.BaseManager.set_volatile_deliver`); see
    :meth:`~socketio.outbox.Outbox.put_volatile_msg` for when it drops.
    """
    session = host.sockets.get(sessid)
    if session is not None:
        session.put_volatile_msg(encoded)


def count_volatile_drop(server: Any) -> None:
    """Count one dropped volatile packet in ``server.volatile_dropped``.

    A server without that counter (a bare object in users' tests) counts nothing.
    """
    try:
        server.volatile_dropped += 1
    except AttributeError:
        pass


def host_manager(server: Any) -> Optional[BaseManager]:
    """The server's manager, or ``None`` for a bare server object without one."""
    return getattr(server, "manager", None)


def host_keep_farewell(server: Any) -> Any:
    """The server's ``keep_farewell``, or ``None`` for a server that keeps none."""
    return getattr(server, "keep_farewell", None)
