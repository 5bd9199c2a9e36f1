"""The session clock: one hub timer per session that sends heartbeats and expires silence.

No greenlet waits for a session's time: a raw libev timer, started in the hub,
fires at the earlier of the next heartbeat and the moment the session would
have been silent too long, and works out, from the time of the last
activity, what is really due then. Activity itself (every packet) only notes
the time: nothing is rearmed per packet.
"""

from __future__ import annotations

import logging
import time

import gevent

from .config import HEARTBEAT_TRANSPORTS
from .session_base import SessionBase
from .state import LIVE, SessionState

__all__ = ["SessionClock"]

log = logging.getLogger("socketio.virtsocket")  # (the lines keep the logger they always had)

_NEW = SessionState.NEW
_CONNECTED = SessionState.CONNECTED


class SessionClock(SessionBase):
    """The clock of a :class:`~socketio.virtsocket.Socket` (one of its parts).

    A part, not a separate object: its state lives in the session's slots,
    so the clock costs no object, and no call layer, per session (see
    ``benchmarks/RESULTS.md``, idle memory per websocket).
    """

    __slots__ = ()

    def start_clock(self) -> None:
        """Expire the session when its client stays silent or away too long.

        The limit is ``close_timeout`` until the first transport request, then
        ``heartbeat_timeout`` for websockets and streams (only packets from the
        client count there: an open connection proves nothing) and
        ``close_timeout`` for polling (a held poll counts as presence).
        """
        if not self._clock_started:
            self._clock_started = True
            self._rearm()

    def start_heartbeats(self) -> None:
        """Send ``2::`` every ``heartbeat_interval`` seconds while connected."""
        self._clock_started = True
        self._next_beat = time.monotonic() + self.config.heartbeat_interval
        self._rearm()

    def stop_clock(self) -> None:
        """Stop the clock (the session ended)."""
        if self._clock is not None:
            self._clock.stop()
            self._clock = None

    def incr_hits(self) -> None:
        """Count a transport request; the first one makes the session connected.

        A request is activity: the clock starts its wait again, with the
        time limit of the new state (``heartbeat_timeout`` once a websocket or
        stream is open, not the ``close_timeout`` of a handshaken session).
        """
        self.hits += 1
        if self.hits == 1:
            self.enter(_CONNECTED)
        self._last_activity = time.monotonic()
        if self._clock_started:
            self._rearm()  # the limit may have shrunk

    def heartbeat(self) -> None:
        """Record activity from the client: its time limit starts again.

        Called for every packet, so it only notes the time; the clock reads it
        when it fires (nothing is rearmed per packet).
        """
        self.heartbeats += 1
        self._last_activity = time.monotonic()

    def _due(self) -> float:
        due = self._last_activity + self._time_limit()
        beat = self._next_beat
        return due if beat is None or beat > due else beat

    def _rearm(self) -> None:
        if self.state not in LIVE:
            return
        due = self._due()
        clock = self._clock
        if clock is not None:
            if clock.active and self._clock_due <= due:
                return  # it fires early enough, and works out the rest then
            clock.stop()
        self._clock_due = due
        self._clock = clock = gevent.get_hub().loop.timer(max(0.0, due - time.monotonic()))
        clock.start(self._tick)

    def _tick(self) -> None:
        # Runs in the hub: nothing here may block.
        self._clock = None
        if self.state not in LIVE:
            return
        try:
            now = time.monotonic()
            beat = self._next_beat
            if beat is not None and beat <= now:
                self._next_beat = now + self.config.heartbeat_interval
                if self.connected:
                    self.put_client_msg("2::")
            if self._last_activity + self._time_limit() <= now:
                if (
                    self.active_requests
                    and self.state != _NEW
                    and self.transport_name not in HEARTBEAT_TRANSPORTS
                ):
                    self._last_activity = now  # a long-poll is being held: the client is there
                else:
                    log.info("%s timed out (no activity for %ss)", self, self._time_limit())
                    self._expired = True
                    gevent.spawn(self.kill, detach=True)
                    return
            self._rearm()
        except Exception:
            log.exception("%s: the session clock failed", self)

    def _time_limit(self) -> float:
        if self.state == _NEW:
            return self.config.close_timeout
        if self.transport_name in HEARTBEAT_TRANSPORTS:
            return self.config.heartbeat_timeout
        return self.config.close_timeout
