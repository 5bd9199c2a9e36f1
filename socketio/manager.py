"""Who is in which namespace and room, and delivery of one packet to many sockets.

The manager sits below the virtual socket: it knows session ids, endpoints and
rooms, never :class:`~socketio.virtsocket.Socket` objects. It delivers through
a ``deliver(sessid, encoded_packet)`` callable injected by the server, so the
cost of an emit grows with the members addressed, not with every socket of
the process, and a broadcast is encoded once for all of them. Volatile emits
(:meth:`BaseManager.emit_volatile`) deliver through a second callable.

:class:`MemoryManager` serves one process. A backend that spans processes
subclasses :class:`~socketio.pubsub.PubSubManager` and implements ``_publish``
and ``_listen``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Optional

from .membership import ManagerQueries

__all__ = ["BaseManager", "Deliver", "MemoryManager"]

log = logging.getLogger(__name__)

Deliver = Callable[[str, str], None]


class BaseManager(ManagerQueries):
    """The interface: membership bookkeeping and fan-out of encoded packets."""

    def set_deliver(self, deliver: Deliver) -> None:
        """Give the callable that hands an encoded packet to a local socket."""
        raise NotImplementedError

    def set_volatile_deliver(self, deliver: Deliver) -> None:
        """Give the callable for volatile packets (which drops them for a busy client)."""

    def add_socket(self, sessid: str, endpoint: str) -> None:
        """Record that ``sessid`` has namespace ``endpoint`` open."""
        raise NotImplementedError

    def remove_socket(self, sessid: str, endpoint: Optional[str] = None) -> None:
        """Forget ``sessid`` in ``endpoint`` (and its rooms there), or everywhere."""
        raise NotImplementedError

    def join(self, sessid: str, endpoint: str, room: str) -> None:
        """Put ``sessid`` in ``room`` of ``endpoint``."""
        raise NotImplementedError

    def leave(self, sessid: str, endpoint: str, room: str) -> None:
        """Take ``sessid`` out of ``room`` of ``endpoint``."""
        raise NotImplementedError

    def rooms_of(self, sessid: str, endpoint: str) -> set[str]:
        """The rooms ``sessid`` is in within ``endpoint``."""
        raise NotImplementedError

    def emit(
        self, endpoint: str, encoded: str, room: Optional[str] = None, skip: Optional[str] = None
    ) -> int:
        """Deliver ``encoded`` to the sockets of ``endpoint`` (or of its ``room``), but ``skip``.

        Returns:
            The number of local deliveries made.
        """
        raise NotImplementedError

    def emit_volatile(
        self, endpoint: str, encoded: str, room: Optional[str] = None, skip: Optional[str] = None
    ) -> int:
        """As :meth:`emit`, for a packet each busy client drops (by default: as :meth:`emit`)."""
        return self.emit(endpoint, encoded, room, skip)

    def start(self) -> None:
        """Start background work (a pub/sub listener); the server calls it when it starts."""

    def close(self) -> None:
        """Release resources (connections, greenlets)."""


_NO_ROOMS: frozenset[str] = frozenset()


class MemoryManager(BaseManager):
    """In-process membership, indexed by ``(endpoint, room)``; room ``None`` is the namespace."""

    def __init__(self) -> None:
        self._members: defaultdict[tuple[str, Optional[str]], set[str]] = defaultdict(set)
        # sessid -> endpoint -> rooms: what one socket is in, so that removing
        # it costs what it joined, not a scan of every room of the process.
        # (a socket in no room shares one empty frozenset: most are in none)
        self._sockets: dict[str, dict[str, AbstractSet[str]]] = {}
        self._deliver: Optional[Deliver] = None
        self._volatile: Optional[Deliver] = None

    def set_deliver(self, deliver: Deliver) -> None:
        """Set the callable that hands an encoded packet to a local session."""
        self._deliver = deliver

    def set_volatile_deliver(self, deliver: Deliver) -> None:
        """Set the callable for volatile packets (without it, they go as the others)."""
        self._volatile = deliver

    def add_socket(self, sessid: str, endpoint: str) -> None:
        """Record that session ``sessid`` joined ``endpoint``."""
        self._members[(endpoint, None)].add(sessid)
        self._sockets.setdefault(sessid, {}).setdefault(endpoint, _NO_ROOMS)

    def remove_socket(self, sessid: str, endpoint: Optional[str] = None) -> None:
        """Forget ``sessid`` in ``endpoint`` (and its rooms there), or everywhere when ``None``."""
        entry = self._sockets.get(sessid)
        if entry is None:
            return
        for name in list(entry) if endpoint is None else [endpoint]:
            rooms = entry.pop(name, None)
            if rooms is None:
                continue
            self._discard((name, None), sessid)
            for room in rooms:
                self._discard((name, room), sessid)
        if not entry:
            del self._sockets[sessid]

    def _discard(self, key: tuple[str, Optional[str]], sessid: str) -> None:
        members = self._members.get(key)
        if members is not None:
            members.discard(sessid)
            if not members:
                del self._members[key]

    def join(self, sessid: str, endpoint: str, room: str) -> None:
        """Add ``sessid`` to ``room`` of ``endpoint``."""
        self._members[(endpoint, room)].add(sessid)
        entry = self._sockets.setdefault(sessid, {})
        rooms = entry.get(endpoint)
        if not isinstance(rooms, set):
            entry[endpoint] = rooms = set()
        rooms.add(room)

    def leave(self, sessid: str, endpoint: str, room: str) -> None:
        """Take ``sessid`` out of ``room`` of ``endpoint``."""
        self._discard((endpoint, room), sessid)
        rooms = self._sockets.get(sessid, {}).get(endpoint)
        if isinstance(rooms, set):
            rooms.discard(room)

    def rooms_of(self, sessid: str, endpoint: str) -> set[str]:
        """The rooms ``sessid`` is in on ``endpoint`` (a copy)."""
        return set(self._sockets.get(sessid, {}).get(endpoint, ()))

    def members(self, endpoint: str, room: Optional[str] = None) -> set[str]:
        """Local session ids in ``endpoint`` (or in its ``room``)."""
        return set(self._members.get((endpoint, room), ()))

    def emit(
        self, endpoint: str, encoded: str, room: Optional[str] = None, skip: Optional[str] = None
    ) -> int:
        """Deliver ``encoded`` to the local sessions of ``endpoint`` (or ``room``) but ``skip``."""
        return self._deliver_local(endpoint, encoded, room, skip)

    def emit_volatile(
        self, endpoint: str, encoded: str, room: Optional[str] = None, skip: Optional[str] = None
    ) -> int:
        """As :meth:`emit`, through the volatile callable (see :meth:`set_volatile_deliver`)."""
        return self._deliver_local(endpoint, encoded, room, skip, self._volatile)

    def _deliver_local(
        self,
        endpoint: str,
        encoded: str,
        room: Optional[str],
        skip: Optional[str],
        via: Optional[Deliver] = None,
    ) -> int:
        deliver = via or self._deliver
        if deliver is None:
            return 0
        count = 0
        # Copy: a delivery may disconnect a slow consumer, changing the set.
        for sessid in list(self._members.get((endpoint, room), ())):
            if sessid != skip:
                deliver(sessid, encoded)
                count += 1
        return count
