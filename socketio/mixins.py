"""Rooms and broadcast for namespaces.

Both mixins go through the server's manager (:mod:`socketio.manager`): only
sockets that have the namespace open receive its traffic, a packet is encoded
once for all recipients, and with a pub/sub manager delivery spans processes.
Rooms are also mirrored in ``session['rooms']`` (as ``'<ns_name>_<room>'``
strings), where code written for the original library reads them.

Every emit takes ``volatile=True`` (the reference server's
``socket.broadcast.volatile.emit``): each recipient whose client cannot take
the packet now drops it (:meth:`~socketio.outbox.Outbox.put_volatile_msg`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Protocol

from . import packet

if TYPE_CHECKING:  # pragma: no cover
    from .virtsocket import Socket

__all__ = ["BroadcastMixin", "RoomsMixin"]


class _Namespace(Protocol):
    """What the mixins need from the namespace they are mixed into."""

    @property
    def ns_name(self) -> str: ...

    @property
    def session(self) -> dict[str, Any]: ...

    @property
    def socket(self) -> Socket: ...

    def _get_room_name(self: _Namespace, room: str) -> str: ...


def _encoded_event(ns: _Namespace, event: str, args: tuple[Any, ...]) -> str:
    pkt = {"type": "event", "name": event, "args": list(args), "endpoint": ns.ns_name}
    return packet.encode(pkt, ns.socket.json_dumps)


def _fan_out(
    ns: _Namespace, encoded: str, room: Optional[str], skip: Optional[str], volatile: bool
) -> None:
    manager = ns.socket.manager
    if manager is not None:
        if volatile:
            manager.emit_volatile(ns.ns_name, encoded, room=room, skip=skip)
        else:
            manager.emit(ns.ns_name, encoded, room=room, skip=skip)
        return
    # No manager (a bare server object, as in some users' tests): walk the sockets.
    room_name = None if room is None else f"{ns.ns_name}_{room}"
    for socket in list(ns.socket.server.sockets.values()):
        if socket.sessid == skip or (ns.ns_name and ns.ns_name not in socket.active_ns):
            continue
        if room_name is not None and room_name not in socket.session.get("rooms", ()):
            continue
        if volatile:
            socket.put_volatile_msg(encoded)
        else:
            socket.put_client_msg(encoded)


class RoomsMixin:
    """Rooms within a namespace: :meth:`join`, :meth:`leave`, :meth:`emit_to_room`."""

    def __init__(self: _Namespace, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "rooms" not in self.session:
            self.session["rooms"] = set()

    def _get_room_name(self: _Namespace, room: str) -> str:
        return f"{self.ns_name}_{room}"

    def join(self: _Namespace, room: str) -> None:
        """Put this socket in ``room`` of this namespace."""
        self.session.setdefault("rooms", set()).add(self._get_room_name(room))
        manager = self.socket.manager
        if manager is not None:
            manager.join(self.socket.sessid, self.ns_name, room)

    def leave(self: _Namespace, room: str) -> None:
        """Take this socket out of ``room`` (nothing happens if it was not in it)."""
        self.session.setdefault("rooms", set()).discard(self._get_room_name(room))
        manager = self.socket.manager
        if manager is not None:
            manager.leave(self.socket.sessid, self.ns_name, room)

    def emit_to_room(
        self: _Namespace, room: str, event: str, *args: Any, volatile: bool = False
    ) -> None:
        """Send ``event`` to every other socket in ``room`` of this namespace.

        With ``volatile``, a socket whose client cannot take it now drops it.
        """
        encoded = _encoded_event(self, event, args)
        _fan_out(self, encoded, room, self.socket.sessid, volatile)


class BroadcastMixin:
    """Events for every socket that has this namespace open."""

    def broadcast_event(self: _Namespace, event: str, *args: Any, volatile: bool = False) -> None:
        """Send ``event`` to every socket in this namespace, this one included.

        With ``volatile``, a socket whose client cannot take it now drops it.
        """
        _fan_out(self, _encoded_event(self, event, args), None, None, volatile)

    def broadcast_event_not_me(
        self: _Namespace, event: str, *args: Any, volatile: bool = False
    ) -> None:
        """Send ``event`` to every other socket in this namespace.

        With ``volatile``, a socket whose client cannot take it now drops it.
        """
        _fan_out(self, _encoded_event(self, event, args), None, self.socket.sessid, volatile)
