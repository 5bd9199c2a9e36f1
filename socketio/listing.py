"""Who is connected: the sockets of a namespace or room, the rooms of a socket.

The reference server's ``io.sockets.clients(room)``,
``io.sockets.manager.roomClients[id]`` and ``io.sockets.manager.rooms``,
offered twice:

* from a namespace, as methods every :class:`~socketio.namespace.BaseNamespace`
  has (:class:`ListingMixin`): ``self.clients('lobby')``, ``self.rooms_of()``,
  ``self.all_rooms()``, ``self.count_clients('lobby')``,
  ``self.cluster_count('lobby')``;
* from the server, by namespace name, where no namespace is at hand (a WSGI
  view, a background job): the functions of this module, like
  ``listing.clients(server, '/chat', room='lobby')``.

Lists are of **this process** only, with every manager: with the Redis
manager each process knows its own sockets (and a
:class:`~socketio.virtsocket.Socket` of another process could not be used
anyway). Counts come in two kinds: :func:`count` (this process, exact) and
:func:`cluster_count` (every process: exact and local with the memory
manager, from Redis with the Redis manager once it keeps counts, see
:class:`~socketio.redis_manager.RedisManager`).

Room names are given without the ``'<namespace>_'`` prefix that
``session['rooms']`` carries (that set is unchanged, for 0.3 code). A room
exists while a socket is in it. Nothing here is reachable by a client: a
list is only as exposed as the application makes it, and can be large (one
entry per socket); prefer a count where a count will do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from .seams import host_manager

if TYPE_CHECKING:  # pragma: no cover
    from .virtsocket import Socket

__all__ = [
    "ListingMixin",
    "all_rooms",
    "clients",
    "cluster_count",
    "count",
    "rooms_of",
    "session_ids",
]


def _prefixed_rooms(socket: Any, namespace: str) -> set[str]:
    """The rooms in ``socket.session['rooms']`` of ``namespace``, without the prefix.

    None if the socket has left the namespace: 0.3 leaves its rooms in the session.
    """
    if namespace and namespace not in socket.active_ns:
        return set()
    prefix = f"{namespace}_"
    return {
        name[len(prefix) :]
        for name in socket.session.get("rooms", ())
        if isinstance(name, str) and name.startswith(prefix)
    }


def _walk(server: Any, namespace: str, room: Optional[str]) -> set[str]:
    """The members, read from the sockets themselves (a bare server without a manager)."""
    found = set()
    for sessid, socket in list(server.sockets.items()):
        if namespace and namespace not in socket.active_ns:
            continue
        if room is not None and room not in _prefixed_rooms(socket, namespace):
            continue
        found.add(sessid)
    return found


def session_ids(server: Any, namespace: str = "", room: Optional[str] = None) -> set[str]:
    """The session ids of this process's sockets in ``namespace`` (or in its ``room``).

    Args:
        server: the :class:`~socketio.server.SocketIOServer` (or anything
            with its ``sockets`` and, optionally, ``manager``).
        namespace: the endpoint, like ``'/chat'``; ``''`` is the global one.
        room: a room of that namespace, or ``None`` for all its sockets.
    """
    manager = host_manager(server)
    if manager is None:
        return _walk(server, namespace, room)
    return manager.members(namespace, room)


def clients(server: Any, namespace: str = "", room: Optional[str] = None) -> list[Socket]:
    """This process's sockets in ``namespace`` (or in its ``room``), in no particular order.

    The reference's ``io.of(namespace).clients(room)``. A socket is there
    while it has the namespace open (its instance exists); reach the
    namespace instance with ``socket.active_ns[namespace]`` to emit to it.
    Arguments as :func:`session_ids`.
    """
    sockets = server.sockets
    found = []
    for sessid in session_ids(server, namespace, room):
        socket = sockets.get(sessid)
        if socket is not None:  # (it may be leaving the server as we look)
            found.append(socket)
    return found


def rooms_of(server: Any, sessid: str, namespace: str = "") -> set[str]:
    """The rooms the socket ``sessid`` (of this process) is in within ``namespace``.

    The reference's ``manager.roomClients[id]``, per namespace and without
    prefixes; empty for a session this process does not hold.
    """
    manager = host_manager(server)
    if manager is None:
        socket = server.sockets.get(sessid)
        return set() if socket is None else _prefixed_rooms(socket, namespace)
    return manager.rooms_of(sessid, namespace)


def all_rooms(server: Any, namespace: str = "") -> set[str]:
    """The rooms of ``namespace`` that have a socket of this process in them.

    The reference's ``manager.rooms``, per namespace and without prefixes.
    """
    manager = host_manager(server)
    if manager is None:
        found: set[str] = set()
        for socket in list(server.sockets.values()):
            found.update(_prefixed_rooms(socket, namespace))
        return found
    return manager.rooms(namespace)


def count(server: Any, namespace: str = "", room: Optional[str] = None) -> int:
    """How many sockets of this process are in ``namespace`` (or in its ``room``)."""
    manager = host_manager(server)
    if manager is None:
        return len(_walk(server, namespace, room))
    return manager.count(namespace, room)


def cluster_count(server: Any, namespace: str = "", room: Optional[str] = None) -> int:
    """How many sockets of every process are in ``namespace`` (or in its ``room``).

    The same as :func:`count` with the memory manager. With the Redis
    manager, the sum of every live process's count as of its last heartbeat
    (see :meth:`~socketio.redis_counts.CountingManager.cluster_count`).

    Raises:
        CountUnavailable: Redis did not answer in time (about half a second).
        ConfigError: the Redis manager was not asked to keep counts.
    """
    manager = host_manager(server)
    if manager is None:
        return count(server, namespace, room)
    return manager.cluster_count(namespace, room)


class ListingMixin:
    """The listing methods of every namespace (a base of :class:`~socketio.namespace.BaseNamespace`).

    Each is about this namespace, in this process, except
    :meth:`cluster_count`; see :mod:`socketio.listing`.
    """

    socket: Socket
    ns_name: str

    def clients(self, room: Optional[str] = None) -> list[Socket]:
        """This process's sockets that have this namespace open (or are in its ``room``).

        The reference's ``io.sockets.clients(room)``; this socket is among
        them. ``socket.active_ns[self.ns_name]`` is each one's instance of
        this namespace::

            for other in self.clients("lobby"):
                other.active_ns[self.ns_name].emit("hello", "everyone")
        """
        return clients(self.socket.server, self.ns_name, room)

    def rooms_of(self, sessid: Optional[str] = None) -> set[str]:
        """The rooms of this socket in this namespace (or of the socket ``sessid`` of this process).

        Names without the ``'<ns_name>_'`` prefix of ``session['rooms']``.
        """
        sessid = self.socket.sessid if sessid is None else sessid
        return rooms_of(self.socket.server, sessid, self.ns_name)

    def all_rooms(self) -> set[str]:
        """The rooms of this namespace that have a socket of this process in them."""
        return all_rooms(self.socket.server, self.ns_name)

    def count_clients(self, room: Optional[str] = None) -> int:
        """How many of this process's sockets have this namespace open (or are in its ``room``)."""
        return count(self.socket.server, self.ns_name, room)

    def cluster_count(self, room: Optional[str] = None) -> int:
        """:meth:`count_clients` over every process (with the Redis manager: see :func:`cluster_count`).

        Raises:
            CountUnavailable: Redis did not answer in time.
            ConfigError: the Redis manager was not asked to keep counts.
        """
        return cluster_count(self.socket.server, self.ns_name, room)
