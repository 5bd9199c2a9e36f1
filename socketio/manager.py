"""Who is in which namespace and room, and delivery of one packet to many sockets.

The manager sits below the virtual socket: it knows session ids, endpoints and
rooms, never :class:`~socketio.virtsocket.Socket` objects. It delivers through
a ``deliver(sessid, encoded_packet)`` callable injected by the server, so the
cost of an emit grows with the members addressed, not with every socket of
the process, and a broadcast is encoded once for all of them.

:class:`MemoryManager` serves one process. A backend that spans processes
subclasses :class:`PubSubManager` and implements ``_publish`` and ``_listen``.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from typing import Any, Optional

__all__ = ["BaseManager", "Deliver", "MemoryManager", "PubSubManager"]

log = logging.getLogger(__name__)

Deliver = Callable[[str, str], None]


class BaseManager:
    """The interface: membership bookkeeping and fan-out of encoded packets."""

    def set_deliver(self, deliver: Deliver) -> None:
        """Give the callable that hands an encoded packet to a local socket."""
        raise NotImplementedError

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

    def set_deliver(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def add_socket(self, sessid: str, endpoint: str) -> None:
        self._members[(endpoint, None)].add(sessid)
        self._sockets.setdefault(sessid, {}).setdefault(endpoint, _NO_ROOMS)

    def remove_socket(self, sessid: str, endpoint: Optional[str] = None) -> None:
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
        self._members[(endpoint, room)].add(sessid)
        entry = self._sockets.setdefault(sessid, {})
        rooms = entry.get(endpoint)
        if not isinstance(rooms, set):
            entry[endpoint] = rooms = set()
        rooms.add(room)

    def leave(self, sessid: str, endpoint: str, room: str) -> None:
        self._discard((endpoint, room), sessid)
        rooms = self._sockets.get(sessid, {}).get(endpoint)
        if isinstance(rooms, set):
            rooms.discard(room)

    def rooms_of(self, sessid: str, endpoint: str) -> set[str]:
        return set(self._sockets.get(sessid, {}).get(endpoint, ()))

    def members(self, endpoint: str, room: Optional[str] = None) -> set[str]:
        """Local session ids in ``endpoint`` (or in its ``room``)."""
        return set(self._members.get((endpoint, room), ()))

    def emit(
        self, endpoint: str, encoded: str, room: Optional[str] = None, skip: Optional[str] = None
    ) -> int:
        return self._deliver_local(endpoint, encoded, room, skip)

    def _deliver_local(
        self, endpoint: str, encoded: str, room: Optional[str], skip: Optional[str]
    ) -> int:
        deliver = self._deliver
        if deliver is None:
            return 0
        count = 0
        # Copy: a delivery may disconnect a slow consumer, changing the set.
        for sessid in list(self._members.get((endpoint, room), ())):
            if sessid != skip:
                deliver(sessid, encoded)
                count += 1
        return count


class PubSubManager(MemoryManager):
    """A manager that shares every emit with other processes over a message bus.

    Subclasses implement :meth:`_publish` (send one message to every process)
    and :meth:`_listen` (yield the messages received, reconnecting as needed);
    :meth:`start` runs the listener in a greenlet.

    Exactly once: :meth:`emit` delivers to this process's own members at once
    and then publishes; a process ignores the messages it published itself
    (``message['host'] == host_id``) and delivers every other message to its
    own members. Each member is local to exactly one process, which delivers
    it either directly (the sender's process) or from the bus (all the
    others), never both. So local members get their messages even while the
    bus is down; cross-process delivery is as reliable as the bus (pub/sub
    is at-most-once: what is published while a process is not subscribed is
    lost for that process).

    The message is a dict: ``host`` (the publisher's ``host_id``),
    ``endpoint``, ``room`` (``None`` for the whole namespace), ``skip`` (a
    session id, or ``None``) and ``packet`` (the encoded packet); backends
    choose how to serialise it.

    Attributes:
        channel: the bus channel shared by every process (and emitter).
        host_id: this process's id, unique per manager instance.
        bus_up: the backend's view of the bus; while it is false :meth:`emit`
            does not try to publish (it would only block or fail).
    """

    def __init__(self, channel: str = "socketio") -> None:
        super().__init__()
        self.channel = channel
        self.host_id = uuid.uuid4().hex
        self.bus_up = True
        self._publish_failing = False
        self._listener: Any = None

    def start(self) -> None:
        """Start the listener greenlet, if it is not running (the server calls it when it starts)."""
        import gevent  # lazily: importing the manager must not need gevent

        if self._listener is None or self._listener.dead:
            self._listener = gevent.spawn(self._run_listener)

    def close(self) -> None:
        """Stop the listener greenlet."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.kill(block=False)

    def emit(
        self, endpoint: str, encoded: str, room: Optional[str] = None, skip: Optional[str] = None
    ) -> int:
        count = self._deliver_local(endpoint, encoded, room, skip)
        if not self.bus_up:
            return count
        message = {
            "host": self.host_id,
            "endpoint": endpoint,
            "room": room,
            "skip": skip,
            "packet": encoded,
        }
        try:
            self._publish(message)
        except Exception as exc:  # the bus is down: local members were served anyway
            if not self._publish_failing:
                self._publish_failing = True
                log.warning("pub/sub publish failed, emits reach local members only: %s", exc)
            else:
                log.debug("pub/sub publish failed again: %s", exc)
        else:
            if self._publish_failing:
                self._publish_failing = False
                log.info("pub/sub publish works again")
        return count

    def _run_listener(self) -> None:
        import gevent

        while True:
            try:
                for message in self._listen():
                    try:
                        self._handle_message(message)
                    except Exception:
                        log.exception("delivering a pub/sub message failed: %.200r", message)
            except gevent.GreenletExit:
                raise
            except Exception:
                log.exception("the pub/sub listener failed; restarting it in 1 s")
            gevent.sleep(1)

    def _handle_message(self, message: Any) -> None:
        """Deliver a message from the bus to local members (unless this process published it)."""
        if not isinstance(message, dict):
            log.info("ignoring malformed pub/sub message: %.200r", message)
            return
        if message.get("host") == self.host_id:
            return  # emit() already delivered it to the local members
        endpoint = message.get("endpoint")
        encoded = message.get("packet")
        room = message.get("room")
        skip = message.get("skip")
        if not (
            isinstance(endpoint, str)
            and isinstance(encoded, str)
            and isinstance(room, (str, type(None)))
            and isinstance(skip, (str, type(None)))
        ):
            log.info("ignoring malformed pub/sub message: %.200r", message)
            return
        self._deliver_local(endpoint, encoded, room, skip)

    def _publish(self, message: dict[str, Any]) -> None:
        """Send ``message`` to every process subscribed to :attr:`channel`.

        Raises:
            Exception: whatever the backend raises when the bus is unreachable;
                :meth:`emit` logs it once and carries on.
        """
        raise NotImplementedError

    def _listen(self) -> Iterator[dict[str, Any]]:
        """Yield the messages published on :attr:`channel`, forever.

        The backend reconnects by itself (with a backoff), keeping
        :attr:`bus_up` current; :meth:`start` runs it in a greenlet.
        """
        raise NotImplementedError
