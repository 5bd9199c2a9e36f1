"""The deadlines of held polls: one libev timer per server, not a gevent ``Timeout`` each.

A held polling request (GET) waits up to ``poll_hold`` seconds for packets
for its client. A gevent ``Timeout`` per wait creates a libev timer, starts
it (on PyPy that makes a new cffi handle, and reads the clock), then stops
and closes it: on PyPy about 5 % of a polling message's server CPU
(``benchmarks/LOG.md``, "PyPy: the polling request path"), most of it for a
timer that never fires, since a busy client's poll is answered long before.

:class:`Deadlines` keeps the waiting greenlets of a server in the order
their waits began, each with its deadline, and one timer armed for the
earliest. When it fires, each wait past its deadline gets the exception
thrown into its greenlet, as gevent's ``Timeout`` does. A wait that ends
first only leaves the dict.

Polls whose requests were read in one turn of the loop share one deadline
(the loop's time of that turn). Each one ended runs its greenlet until it
waits again (its ``8::`` answered): ten thousand of them ended in one
callback kept every other client waiting 0.4 s on CPython. At most
:data:`EXPIRE_PER_TURN` are ended per turn; the rest are ended in the next
turns, after the loop has polled for the others' I/O (as
:func:`socketio.fairness.pause` lets a busy greenlet's neighbours run).
"""

from __future__ import annotations

from typing import Any, Optional

from gevent import getcurrent

__all__ = ["EXPIRE_PER_TURN", "Deadlines"]

#: most waits ended by one firing of the timer (a few milliseconds of work)
EXPIRE_PER_TURN = 32


class Deadlines:
    """Timed waits of one loop that share one timer (see the module's description).

    The waits are expected to last about as long each (a server's
    ``poll_hold``): they are kept in the order they began, and the timer
    looks at the oldest first. Were the hold shortened while polls are
    held, a later wait would be ended when the ones before it are (no
    later than the old hold), not at its own deadline.

    Args:
        loop: the gevent loop the greenlets wait on.
        exception: what is thrown into a greenlet whose wait outlasts its
            deadline (``gevent.queue.Empty`` for a poll, as a ``Queue.get``
            with a timeout raises).
    """

    def __init__(self, loop: Any, exception: type[BaseException]) -> None:
        self.loop = loop
        self.exception = exception
        #: waiting greenlet -> its deadline (the loop's time), oldest first
        self.waiting: dict[Any, float] = {}
        #: armed for the oldest wait's deadline (or sooner) while any waits
        self._timer: Optional[Any] = None

    def start(self, seconds: float) -> Any:
        """Start a wait of the current greenlet of at most ``seconds``.

        Returns:
            The key to give :meth:`end` when the wait is over (whether it
            ended by itself or by the exception).
        """
        current = getcurrent()
        loop = self.loop
        # (loop.now() is the time of this turn of the loop: a wait may end
        # a few milliseconds early, not late, as a Timeout started without
        # updating the loop's time would)
        self.waiting[current] = loop.now() + seconds
        if self._timer is None:
            self._arm(seconds)
        return current

    def end(self, key: Any) -> None:
        """The wait of ``key`` is over: forget its deadline.

        The timer stays armed: it finds nothing due and re-arms for the
        oldest wait left (once per hold at most, however many waits end
        meanwhile).
        """
        self.waiting.pop(key, None)

    def _arm(self, seconds: float) -> None:
        timer = self.loop.timer(max(0.0, seconds))
        self._timer = timer
        timer.start(self._expire, timer)

    def _expire(self, timer: Any) -> None:
        """The timer fired: end every wait past its deadline, re-arm for the oldest left."""
        timer.close()
        if self._timer is timer:
            self._timer = None
        waiting = self.waiting
        now = self.loop.now()
        exception = self.exception
        for _ in range(EXPIRE_PER_TURN):
            if not waiting:
                break
            current, deadline = next(iter(waiting.items()))
            if deadline > now:
                break
            del waiting[current]
            if not current.dead:  # (each wait ends in a finally: not expected)
                # As gevent's Timeout: the exception is raised where the
                # greenlet waits; it runs until it waits again, then the
                # loop goes on here.
                current.throw(exception)
        if waiting and self._timer is None:
            # (due already, past this turn's share: a timer of no duration,
            # which fires in the next turn, after the loop has polled)
            current, deadline = next(iter(waiting.items()))
            self._arm(deadline - self.loop.now())
