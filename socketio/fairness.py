"""Taking turns: how a greenlet that has done a bounded amount of work lets the others run.

Every connection is served by a greenlet, and a greenlet keeps the CPU until
it waits for something. A client whose data is always there (a flood of
frames, a body of ten thousand packets, pipelined requests) would never make
its greenlet wait: the code that serves it calls :func:`pause` after each
bounded piece of work instead.
"""

from __future__ import annotations

import gevent

__all__ = ["pause"]


def pause() -> None:
    """Let every other connection run once, then return.

    The wait is on a timer of no duration, which fires in the event loop's
    next iteration, after the loop has polled for I/O. ``gevent.sleep(0)``
    schedules a callback instead, and the hub runs ready callbacks for up to
    its switch interval (5 ms) in a row before polling again: a greenlet
    that pauses that way may be resumed before the other clients' packets
    are even read.
    """
    hub = gevent.get_hub()
    timer = hub.loop.timer(0.0)
    try:
        hub.wait(timer)
    finally:
        timer.close()
