"""Per-session rate limits: a token bucket fed by the session clock's coarse time.

A session with a limit holds one :class:`TokenBucket`. Each packet that
would reach a handler takes a token; tokens come back at ``rate`` per second
up to ``burst``. The time is the one the session clock already noted when
the packet arrived (``Socket._last_activity``), so a packet costs no clock
read; it is also the packet's arrival time, which is what the limit is about
(a polling POST of a thousand packets arrives at once, whenever its
packets are handled). Pure: no gevent, no I/O.
"""

from __future__ import annotations

import math
from typing import Optional

__all__ = ["NOTICE_INTERVAL", "TokenBucket", "new_bucket"]

#: seconds between two ``rate_limited`` errors sent to one client while its
#: packets keep being dropped (the first drop is told at once)
NOTICE_INTERVAL = 1.0


class TokenBucket:
    """The limit of one session: ``rate`` packets per second, ``burst`` at once.

    Args:
        rate: tokens given back per second.
        burst: most tokens held (the bucket starts full).
        now: the time of the session's start (monotonic seconds).

    Attributes:
        denied: packets refused so far (the session's ``rate_limited``).
        over_since: when the current run of drops began (``None``: the
            client is within its limit). Whether a client is still over its
            limit is judged on everything it sends, dropped packets
            included: :attr:`demand` is a second bucket of the same rate
            from which every packet takes a token, and which may go into
            debt by up to ``burst`` plus a second's worth of tokens. The run
            ends when that debt is paid back: a client that goes on sending
            faster than its rate, even in batches (a polling client's POSTs)
            that let the first bucket fill up between them, stays in its run.
        demand: the level of that second bucket.
        noticed: when the client was last told its packets are dropped.
        denied_since_notice: packets dropped since then.
        logged: whether the session's one log line was written.
    """

    __slots__ = (
        "burst",
        "debt",
        "demand",
        "denied",
        "denied_since_notice",
        "logged",
        "noticed",
        "over_since",
        "rate",
        "stamp",
        "tokens",
    )

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.demand = float(burst)
        self.debt = -(burst + rate)
        self.stamp = now
        self.denied = 0
        self.denied_since_notice = 0
        self.over_since: Optional[float] = None
        self.noticed = -math.inf
        self.logged = False

    def take(self, now: float) -> bool:
        """Take a token for a packet that arrived at ``now``: whether it may be handled.

        A refused packet is counted (:attr:`denied`) and starts, or
        continues, a run of drops (:attr:`over_since`).
        """
        # (plain comparisons, not min() and max(): this runs per packet)
        stamp = self.stamp
        if now > stamp:
            earned = (now - stamp) * self.rate
            self.stamp = now
            tokens = self.tokens + earned
            demand = self.demand + earned
            burst = self.burst
            if tokens > burst:
                tokens = burst
                if demand > burst:
                    demand = burst  # (never above tokens: it loses one more per drop)
        else:
            tokens = self.tokens
            demand = self.demand
        if demand >= 0.0:
            self.over_since = None
            self.demand = demand - 1.0  # (never below the debt: that is less than -1)
        elif demand - 1.0 > self.debt:
            self.demand = demand - 1.0
        else:
            self.demand = self.debt
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        self.denied += 1
        self.denied_since_notice += 1
        if self.over_since is None:
            self.over_since = now
        return False

    def notice_due(self, now: float) -> bool:
        """Whether to tell the client now (at most once per :data:`NOTICE_INTERVAL`)."""
        if now - self.noticed < NOTICE_INTERVAL:
            return False
        self.noticed = now
        return True

    def over_for(self, now: float) -> float:
        """Seconds the current run of drops has lasted (0 when within the limit)."""
        return 0.0 if self.over_since is None else now - self.over_since


def new_bucket(rate: Optional[float], burst: Optional[int], now: float) -> Optional[TokenBucket]:
    """A bucket for a new session, or ``None`` when there is no limit (``rate`` is ``None``).

    ``burst`` defaults to one second's worth of packets (at least one).
    """
    if rate is None:
        return None
    return TokenBucket(rate, burst if burst is not None else max(1, math.ceil(rate)), now)
