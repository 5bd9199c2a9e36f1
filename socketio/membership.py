"""The query side of a manager: who is in which namespace and room.

The reference server answered these with ``io.sockets.clients(room)``,
``io.sockets.manager.roomClients[id]`` and ``io.sockets.manager.rooms``.
:class:`ManagerQueries` is a base of :class:`~socketio.manager.BaseManager`;
everything in it is built on the two lookups a manager keeps anyway
(:meth:`~ManagerQueries.members` and :meth:`~ManagerQueries.rooms_of`), so a
query costs nothing until it is asked, and the membership bookkeeping on the
join and emit paths is unchanged.

Every answer but :meth:`~ManagerQueries.cluster_count` is about this
process: with a pub/sub manager each process knows its own sockets only.
Applications usually reach these through :mod:`socketio.listing` (by server)
or the namespace's methods (:class:`socketio.listing.ListingMixin`).
"""

from __future__ import annotations

from typing import Optional

__all__ = ["ManagerQueries"]


class ManagerQueries:
    """Membership queries over :meth:`members` and :meth:`rooms_of`.

    A manager implements those two; the others have working defaults that
    a backend may replace with something cheaper.
    """

    def members(self, endpoint: str, room: Optional[str] = None) -> set[str]:
        """The session ids of this process in ``endpoint`` (or in its ``room``), a copy."""
        raise NotImplementedError

    def rooms_of(self, sessid: str, endpoint: str) -> set[str]:
        """The rooms ``sessid`` is in within ``endpoint`` (a copy)."""
        raise NotImplementedError

    def rooms(self, endpoint: str) -> set[str]:
        """The rooms of ``endpoint`` that have a member in this process.

        A room exists while someone is in it, as in the reference server.
        Costs one look-up per socket of the namespace in this process (no
        index of rooms is kept for a query that is rarely asked).
        """
        found: set[str] = set()
        for sessid in self.members(endpoint):
            found.update(self.rooms_of(sessid, endpoint))
        return found

    def count(self, endpoint: str, room: Optional[str] = None) -> int:
        """How many sockets of this process are in ``endpoint`` (or in its ``room``)."""
        return len(self.members(endpoint, room))

    def cluster_count(self, endpoint: str, room: Optional[str] = None) -> int:
        """How many sockets of every process are in ``endpoint`` (or in its ``room``).

        A manager that serves one process answers with :meth:`count`: exact
        and local. A manager spanning processes overrides it (see
        :meth:`socketio.redis_counts.CountingManager.cluster_count`).

        Raises:
            CountUnavailable: a manager spanning processes could not get the
                count in time (its bus is down or hung).
            ConfigError: the manager spans processes but was not asked to
                keep counts.
        """
        return self.count(endpoint, room)
