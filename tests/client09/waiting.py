"""Waiting on observable state instead of sleeping for a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: how often a condition is polled
POLL_INTERVAL = 0.02


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 5,
    what: str = "condition",
    sleep: Callable[[float], object] = time.sleep,
    interval: float = POLL_INTERVAL,
) -> T:
    """Poll ``predicate`` until it returns something true and return that.

    Raises ``AssertionError`` naming ``what`` after ``timeout`` seconds. The
    predicate runs at least once, and once more after the deadline, so a slow
    poll never fails a condition that holds. A test serving from its own
    process without monkey-patching passes ``sleep=gevent.sleep`` so the
    server runs while it waits; ``interval`` is the time between polls (a
    unit test waiting on greenlets of its own process polls every millisecond).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        sleep(interval)
