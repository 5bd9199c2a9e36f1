"""``Deadlines``: timed waits sharing one timer end as a gevent ``Timeout`` would end them."""

from __future__ import annotations

import gevent
import gevent.event
import gevent.queue
import pytest

from socketio import fairness
from socketio.deadlines import EXPIRE_PER_TURN, Deadlines


@pytest.fixture
def deadlines() -> Deadlines:
    return Deadlines(gevent.get_hub().loop, gevent.queue.Empty)


def _hold(deadlines: Deadlines, queue: gevent.queue.Queue, seconds: float) -> object:
    """A held poll: wait on ``queue`` for at most ``seconds`` (what the transport does)."""
    key = deadlines.start(seconds)
    try:
        return queue.get()
    except gevent.queue.Empty:
        return "timed out"
    finally:
        deadlines.end(key)


def test_a_wait_past_its_deadline_gets_the_exception(deadlines):
    queue: gevent.queue.Queue = gevent.queue.Queue()
    assert _hold(deadlines, queue, 0.01) == "timed out"
    assert deadlines.waiting == {}


def test_a_wait_that_ends_first_only_leaves_the_dict(deadlines):
    queue: gevent.queue.Queue = gevent.queue.Queue()
    waiter = gevent.spawn(_hold, deadlines, queue, 60)
    gevent.sleep(0)
    assert list(deadlines.waiting) == [waiter]
    queue.put("3:::x")
    assert waiter.get() == "3:::x"
    assert deadlines.waiting == {}


def test_the_timer_reaches_waits_started_after_others_ended(deadlines):
    # The timer armed for the first wait finds it gone, and re-arms for the next.
    first_queue: gevent.queue.Queue = gevent.queue.Queue()
    first = gevent.spawn(_hold, deadlines, first_queue, 0.05)
    gevent.sleep(0)
    first_queue.put("first")
    assert first.get() == "first"
    second = gevent.spawn(_hold, deadlines, gevent.queue.Queue(), 0.1)
    assert second.get() == "timed out"
    assert deadlines.waiting == {}


def test_many_waits_end_each_once_oldest_first(deadlines):
    ended: list[int] = []

    def hold(index: int) -> None:
        assert _hold(deadlines, gevent.queue.Queue(), 0.01) == "timed out"
        ended.append(index)

    waits = [gevent.spawn(hold, index) for index in range(5)]
    gevent.joinall(waits, raise_error=True)
    assert ended == [0, 1, 2, 3, 4]
    assert deadlines.waiting == {}


def test_waits_due_together_end_a_bounded_number_per_turn_of_the_loop(deadlines):
    # Polls read in one turn share its time, so one deadline: ending all of
    # them in one callback would keep every other client waiting meanwhile.
    count = 3 * EXPIRE_PER_TURN + 5
    ended: list[int] = []

    def hold(index: int) -> None:
        assert _hold(deadlines, gevent.queue.Queue(), 0.01) == "timed out"
        ended.append(index)

    waits = [gevent.spawn(hold, index) for index in range(count)]
    seen: list[int] = []  # how many had ended, at each turn of the loop
    while len(ended) < count:
        fairness.pause()
        seen.append(len(ended))
    gevent.joinall(waits, raise_error=True)
    steps = [b - a for a, b in zip([0, *seen], seen) if b > a]
    assert max(steps) <= EXPIRE_PER_TURN
    assert len(steps) >= 4
    assert ended == list(range(count))  # oldest first still
    assert deadlines.waiting == {}
