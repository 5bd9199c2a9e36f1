"""The ack table: the callbacks waiting for the client's acks, with optional timeouts.

A part of the :class:`~socketio.virtsocket.Socket` (see
:mod:`socketio.virtsocket`). An ``emit(..., callback=cb)`` saves ``cb`` under
the packet's id until the client's ``6:::id+[...]`` comes; 0.3 kept it for as
long as the session lived. Here, optionally, ``ack_timeout`` seconds later
the callback (or an ``on_timeout``) is called once with an
:class:`~socketio.exceptions.AckTimeout`, and a session waits for
``max_pending_acks`` acks at most (:class:`~socketio.config.Config`).

The timeouts of a session share one libev timer, started in the hub for the
soonest deadline of a heap; a session that never asks for a timeout has no
timer, no heap, not even a slot (a class default stands for it), and an ack
that comes in time costs one dict lookup more.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable
from typing import Any, Optional

import gevent

from .exceptions import AckTimeout
from .session_base import SessionBase

__all__ = ["AckTable"]

log = logging.getLogger("socketio.virtsocket")  # (the lines keep the session's logger)


class _AckDeadlines:
    """The ack timeouts of one session: a heap of deadlines and one hub timer.

    Made by the first emit of a session that asks for an ``ack_timeout`` (or
    the first ack given up under ``max_pending_acks``): a session that never
    does pays nothing, not even a slot. An ack that arrives in time only
    drops its entry of ``pending``; its heap entry stays until it comes up
    (or until the heap is compacted), so an ack costs no heap work.
    """

    __slots__ = ("dropped", "heap", "pending", "timer", "timer_due")

    def __init__(self) -> None:
        #: (deadline, msg id), the soonest first; may hold acked ids
        self.heap: list[tuple[float, int]] = []
        #: msg id -> (what to call on timeout, event name, seconds asked)
        self.pending: dict[int, tuple[Callable[..., Any], str, float]] = {}
        self.timer: Any = None
        self.timer_due = 0.0
        #: plain (no timeout) callbacks dropped under max_pending_acks
        self.dropped = 0


def _timeout(
    msgid: int, entry: tuple[Callable[..., Any], str, float], *, early: bool
) -> AckTimeout:
    _call, event, seconds = entry
    why = "given up early (max_pending_acks reached)" if early else f"not acked in {seconds}s"
    return AckTimeout(
        f"ack of message {msgid} ({event!r}) {why}",
        msg_id=msgid,
        event=event,
        seconds=seconds,
        early=early,
    )


class AckTable(SessionBase):
    """The acks of a :class:`~socketio.virtsocket.Socket` (one of its parts).

    Its state is the session's ``ack_callbacks`` and ``ack_counter`` slots,
    plus the timeouts' heap and timer (``_AckDeadlines``) once one was asked for.
    """

    __slots__ = ()

    # A class default, not a slot: a session that never asks for an ack
    # timeout keeps it at None and pays no memory for the feature.
    _ack_deadlines: Optional[_AckDeadlines] = None

    def _get_next_msgid(self) -> int:
        self.ack_counter += 1
        return self.ack_counter

    def _save_ack_callback(self, msgid: int, callback: Callable[..., Any]) -> bool:
        callbacks = self.ack_callbacks
        if msgid in callbacks:
            return False
        if len(callbacks) >= self.config.max_pending_acks:
            self._give_up_oldest_ack()
        callbacks[msgid] = callback
        return True

    def _pop_ack_callback(self, msgid: int) -> Optional[Callable[..., Any]]:
        deadlines = self._ack_deadlines
        if deadlines is not None:
            deadlines.pending.pop(msgid, None)
        return self.ack_callbacks.pop(msgid, None)

    def save_ack_timeout(
        self, msgid: int, event: str, seconds: float, on_timeout: Callable[..., Any]
    ) -> None:
        """Call ``on_timeout(AckTimeout(...))`` if ack ``msgid`` has not come in ``seconds``.

        The ack's callback must already be saved (``_save_ack_callback``).
        Whichever comes first, the ack or the timeout, takes the callback
        from ``ack_callbacks``: the other finds nothing, so exactly one runs.
        Nothing is armed for a session that has ended (its acks were dropped).
        """
        if self.ended.is_set():
            return
        deadlines = self._ack_deadlines or self._make_deadlines()
        due = time.monotonic() + seconds
        deadlines.pending[msgid] = (on_timeout, event, seconds)
        heap = deadlines.heap
        heapq.heappush(heap, (due, msgid))
        if len(heap) > 2 * len(deadlines.pending) + 64:
            # Mostly acks that came in time: rebuild, so that a busy session
            # with long timeouts does not keep one entry per emit.
            pending = deadlines.pending
            deadlines.heap = heap = [entry for entry in heap if entry[1] in pending]
            heapq.heapify(heap)
        self._arm_ack_timer(deadlines, heap[0][0])

    def _arm_ack_timer(self, deadlines: _AckDeadlines, due: float) -> None:
        timer = deadlines.timer
        if timer is not None:
            if timer.active and deadlines.timer_due <= due:
                return  # it fires early enough and looks at the heap then
            timer.stop()
        deadlines.timer_due = due
        deadlines.timer = timer = gevent.get_hub().loop.timer(max(0.0, due - time.monotonic()))
        timer.start(self._ack_tick)

    def _ack_tick(self) -> None:
        # Runs in the hub: nothing here may block, so the callbacks run in a
        # job of the socket (killed with it: none runs after the session ended).
        deadlines = self._ack_deadlines
        if deadlines is None:
            return
        deadlines.timer = None
        try:
            now = time.monotonic()
            heap, pending, callbacks = deadlines.heap, deadlines.pending, self.ack_callbacks
            due: list[tuple[Callable[..., Any], AckTimeout]] = []
            while heap and (heap[0][0] <= now or heap[0][1] not in pending):
                _, msgid = heapq.heappop(heap)
                entry = pending.pop(msgid, None)
                if entry is None or callbacks.pop(msgid, None) is None:
                    continue  # acked in time
                due.append((entry[0], _timeout(msgid, entry, early=False)))
            if heap:
                self._arm_ack_timer(deadlines, heap[0][0])
            if due:
                log.debug("%s: %d ack(s) timed out", self, len(due))
                self.spawn(self._run_ack_timeouts, due)
        except Exception:
            log.exception("%s: the ack timer failed", self)

    def _give_up_oldest_ack(self) -> None:
        """Make room under ``max_pending_acks``: the oldest pending ack is given up.

        It is the oldest because the client that has not acknowledged it for
        longest is the least likely ever to. With a timeout, its callback gets
        :class:`~socketio.exceptions.AckTimeout` (``early`` true) now; without,
        it was a 0.3 callback that cannot expect that value, and is dropped.
        """
        callbacks = self.ack_callbacks
        msgid = next(iter(callbacks))  # dicts keep insertion order: ids grow
        del callbacks[msgid]
        deadlines = self._ack_deadlines or self._make_deadlines()
        entry = deadlines.pending.pop(msgid, None)
        if entry is not None:
            self.spawn(self._run_ack_timeouts, [(entry[0], _timeout(msgid, entry, early=True))])
            return
        deadlines.dropped += 1
        if deadlines.dropped == 1:  # one line per session: the client may never ack
            log.warning(
                "%s: %d acks pending (max_pending_acks): the oldest ones are dropped",
                self,
                len(callbacks) + 1,
            )

    def _run_ack_timeouts(self, due: list[tuple[Callable[..., Any], AckTimeout]]) -> None:
        for call, timeout in due:
            if self.ended.is_set():
                return  # a callback before this one ended the session
            try:
                call(timeout)
            except Exception:
                log.exception("%s: the timeout callback of message %s failed", self, timeout.msg_id)

    def _make_deadlines(self) -> _AckDeadlines:
        # The instance's __dict__ (the Socket has one) shadows the class
        # default; mypy sees only the part's empty __slots__.
        self._ack_deadlines = deadlines = _AckDeadlines()  # type: ignore[misc]
        return deadlines

    def drop_acks(self) -> None:
        """Forget every pending ack (the session ended): none of their callbacks is called.

        Calling them with the timeout value would run application code for a
        session that is over; the application learns of the end from
        ``recv_disconnect``, as in 0.3.
        """
        self.ack_callbacks = {}
        deadlines = self._ack_deadlines
        if deadlines is not None:
            if deadlines.timer is not None:
                deadlines.timer.stop()
            del self._ack_deadlines  # back to the class default (None)
