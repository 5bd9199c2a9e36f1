"""Delivery across processes: a manager that shares every emit over a message bus.

:class:`PubSubManager` is a :class:`~socketio.manager.MemoryManager` for this
process's members that also publishes each emit for the other processes and
delivers theirs; a backend (:class:`~socketio.redis_manager.RedisManager`)
supplies the bus.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Iterator
from typing import Any, Optional

from .exceptions import ConfigError
from .manager import MemoryManager
from .peerlog import PeerLog

__all__ = ["PubSubManager"]

# The manager module's name, which operators filter on (this class was in it).
log = logging.getLogger("socketio.manager")


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

    Off the handler's path: :meth:`emit` never waits on the bus. It puts the
    message in a queue of at most ``max_pending`` messages (and
    ``max_pending_bytes`` characters of packets), which one
    publisher greenlet sends in order, in batches (:meth:`_publish_many`).
    A message that cannot be published is dropped and counted in
    :attr:`dropped`: when publishing it fails (an outage), while the backend
    knows the bus is down (:attr:`bus_up` false), for ``retry_interval``
    seconds after a failed publish, and when the queue is full (the bus is
    slower than the emits). An outage logs one warning, and the first
    publish that works again logs, once, how many emits were dropped
    meanwhile; a full queue logs one warning per 10 s at most, with the
    number of the drops it did not log. One process's messages are published
    in the order it emitted them; an emit returns before its message is on
    the bus (the publisher, woken first, writes it before the handler's
    answer goes out, unless an earlier batch is still waiting for Redis).

    The message is a dict: ``host`` (the publisher's ``host_id``),
    ``endpoint``, ``room`` (``None`` for the whole namespace), ``skip`` (a
    session id, or ``None``), ``packet`` (the encoded packet) and, for a
    volatile emit only, ``volatile`` (``True``); backends choose how to serialise it.

    Args:
        channel: the bus channel shared by every process (and emitter).
        max_pending: the most messages waiting to be published (default 1000).
        max_pending_bytes: the most characters of packets waiting to be
            published (default 16 MiB), so large packets cannot pile up.
        retry_interval: seconds during which emits are not published after a
            publish failed (default 0.5), so a dead bus costs one attempt per
            interval rather than one per emit.

    Raises:
        ConfigError: ``max_pending`` or ``max_pending_bytes`` is not a
            positive integer, or ``retry_interval`` is negative.

    Attributes:
        channel: the bus channel.
        host_id: this process's id, unique per manager instance.
        bus_up: the backend's view of the bus; while it is false :meth:`emit`
            does not try to publish (it would only block or fail).
        published: messages handed to the bus so far.
        dropped: emits that reached this process's members only (not published).
    """

    #: the most messages handed to :meth:`_publish_many` at once
    publish_batch = 100

    def __init__(
        self,
        channel: str = "socketio",
        *,
        max_pending: int = 1000,
        max_pending_bytes: int = 16 * 2**20,
        retry_interval: float = 0.5,
    ) -> None:
        super().__init__()
        for name, value in (("max_pending", max_pending), ("max_pending_bytes", max_pending_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, not {value!r}")
        if not isinstance(retry_interval, (int, float)) or not 0 <= retry_interval < math.inf:
            raise ConfigError(f"retry_interval must be >= 0 seconds, not {retry_interval!r}")
        self.channel = channel
        self.host_id = uuid.uuid4().hex
        self.bus_up = True
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self._pending_bytes = 0
        self.retry_interval = float(retry_interval)
        self.published = 0
        self.dropped = 0
        self._pending: deque[dict[str, Any]] = deque()
        self._in_flight = 0
        self._wakeup: Any = None  # a gevent Event, made with the publisher
        self._idle: Any = None  # set while nothing is pending nor in flight
        self._publisher: Any = None
        self._listener: Any = None
        self._closed = False
        # After a failed publish, emits are dropped until this monotonic time.
        self._retry_at = 0.0
        # An outage (a failed publish, or the bus down): emits dropped since it began.
        self._outage = False
        self._outage_dropped = 0
        # Whether this outage has had its warning (the backend's may then be quieter).
        self._outage_warned = False
        # A full queue is not an outage (the bus works, slower than the emits):
        # one line per interval, counting the drops it left out.
        self._full_log = PeerLog(log, interval=10.0, level=logging.WARNING)

    def start(self) -> None:
        """Start the listener and publisher greenlets, if they are not running.

        The server calls it when it starts; the publisher also starts with
        the first :meth:`emit`.
        """
        import gevent  # lazily: importing the manager must not need gevent

        self._closed = False
        if self._listener is None or self._listener.dead:
            self._listener = gevent.spawn(self._run_listener)
        self._start_publisher()

    def close(self, timeout: float = 1.0) -> None:
        """Publish what is pending (waiting ``timeout`` seconds at most), then stop the greenlets.

        Emits after this reach local members only, until :meth:`start`.
        """
        if self._publisher is not None and self.bus_up and not self._outage:
            self.flush(timeout)
        self._closed = True
        for name in ("_listener", "_publisher"):
            greenlet = getattr(self, name)
            setattr(self, name, None)
            if greenlet is not None:
                greenlet.kill(block=False)
        if self._pending:
            self.dropped += len(self._pending)
            self._pending.clear()
            self._pending_bytes = 0

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every pending message has been handed to the bus (or dropped).

        Returns:
            Whether the queue is empty (false if ``timeout`` seconds passed first).
        """
        if self._idle is None:
            return True
        return bool(self._idle.wait(timeout))

    @property
    def pending(self) -> int:
        """The number of messages waiting to be published."""
        return len(self._pending) + self._in_flight

    def emit(
        self, endpoint: str, encoded: str, room: Optional[str] = None, skip: Optional[str] = None
    ) -> int:
        """Deliver locally as :class:`MemoryManager` does, then publish for the other processes."""
        return self._share(endpoint, encoded, room, skip, False)

    def emit_volatile(
        self, endpoint: str, encoded: str, room: Optional[str] = None, skip: Optional[str] = None
    ) -> int:
        """As :meth:`emit`; the other processes drop it for their busy clients as this one does."""
        return self._share(endpoint, encoded, room, skip, True)

    def _share(
        self, endpoint: str, encoded: str, room: Optional[str], skip: Optional[str], volatile: bool
    ) -> int:
        count = self._deliver_local(
            endpoint, encoded, room, skip, self._volatile if volatile else None
        )
        if self._closed:
            self.dropped += 1
            return count
        if not self.bus_up:
            self._drop(1)  # the backend has logged why
            return count
        if self._outage and time.monotonic() < self._retry_at:
            self._drop(1)
            return count
        pending = self._pending
        size = len(encoded)
        if len(pending) >= self.max_pending or self._pending_bytes + size > self.max_pending_bytes:
            self.dropped += 1
            if not self._outage_warned:
                self._full_log(
                    "queue-full",
                    "pub/sub: %d messages (%d characters) wait for the bus (max_pending, "
                    "max_pending_bytes); emits reach this process's clients only until it "
                    "catches up",
                    len(pending),
                    self._pending_bytes,
                )
            return count
        message: dict[str, Any] = {
            "host": self.host_id,
            "endpoint": endpoint,
            "room": room,
            "skip": skip,
            "packet": encoded,
        }
        if volatile:  # (only then: the other messages stay as they were)
            message["volatile"] = True
        pending.append(message)
        self._pending_bytes += size
        if self._publisher is None or self._publisher.dead:
            self._start_publisher()
        self._idle.clear()
        self._wakeup.set()
        return count

    def _start_publisher(self) -> None:
        import gevent
        import gevent.event

        if self._wakeup is None:
            self._wakeup = gevent.event.Event()
            self._idle = gevent.event.Event()
            self._idle.set()
        if self._publisher is None or self._publisher.dead:
            self._publisher = gevent.spawn(self._run_publisher)

    def _run_publisher(self) -> None:
        """Publish the pending messages in order, in batches of at most ``publish_batch``, for ever."""
        pending, wakeup, idle = self._pending, self._wakeup, self._idle
        try:
            self._prepare()
        except Exception as exc:  # the first publish will say it again, if it lasts
            log.debug("pub/sub: preparing to publish failed: %s", exc)
        while True:
            while not pending:
                idle.set()
                wakeup.clear()
                wakeup.wait()
            batch = [pending.popleft() for _ in range(min(len(pending), self.publish_batch))]
            self._in_flight = len(batch)
            self._pending_bytes -= sum(len(message["packet"]) for message in batch)
            try:
                self._publish_many(batch)
            except Exception as exc:  # the bus is down or hung: local members were served
                self._retry_at = time.monotonic() + self.retry_interval
                lost = len(batch) + len(pending)
                pending.clear()
                self._pending_bytes = 0
                self._drop(lost, f"publishing failed: {exc}")
            else:
                self.published += len(batch)
                if self._outage:
                    log.info(
                        "pub/sub publishing works again; %d emits reached this process's "
                        "clients only meanwhile",
                        self._outage_dropped,
                    )
                    self._outage = False
                    self._outage_dropped = 0
                    self._outage_warned = False
            finally:
                self._in_flight = 0

    def _drop(self, count: int, reason: Optional[str] = None) -> None:
        """Count ``count`` emits lost to an outage; its first warning gives ``reason``."""
        self.dropped += count
        self._outage_dropped += count
        self._outage = True
        if reason is not None and not self._outage_warned:
            self._outage_warned = True
            log.warning(
                "pub/sub: emits reach this process's clients only (%s); "
                "the count is logged when publishing works again",
                reason,
            )

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
        via = self._volatile if message.get("volatile") is True else None
        self._deliver_local(endpoint, encoded, room, skip, via)

    def _prepare(self) -> None:
        """Get ready to publish (connect), so the first emit does not wait for it.

        The publisher greenlet calls it once when it starts; errors are ignored.
        """

    def _publish_many(self, messages: list[dict[str, Any]]) -> None:
        """Send ``messages``, in order (the publisher's batch); by default one by one.

        A backend may send them at once (a pipeline). Raises as :meth:`_publish`;
        the whole batch then counts as dropped.
        """
        for message in messages:
            self._publish(message)

    def _publish(self, message: dict[str, Any]) -> None:
        """Send ``message`` to every process subscribed to :attr:`channel`.

        Called by the publisher greenlet only (through :meth:`_publish_many`),
        in order; it should give up after a bounded time (a hung bus).

        Raises:
            Exception: whatever the backend raises when the bus is unreachable
                or times out; the message is dropped (never sent again: it may
                have reached the bus), counted and logged once per outage.
        """
        raise NotImplementedError

    def _listen(self) -> Iterator[dict[str, Any]]:
        """Yield the messages published on :attr:`channel`, forever.

        The backend reconnects by itself (with a backoff), keeping
        :attr:`bus_up` current; :meth:`start` runs it in a greenlet.
        """
        raise NotImplementedError
