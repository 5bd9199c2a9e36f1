"""Ctrl-C for a server serving forever: a graceful stop instead of a traceback.

Python raises ``KeyboardInterrupt`` wherever the process happens to be; in
a gevent process that is most often the hub, which prints the exception and
then a traceback through gevent's insides. :func:`watch_sigint` has the hub
run a callback on SIGINT instead, unless the application has installed its
own handler (which it keeps).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any, Optional

import gevent

__all__ = ["watch_sigint"]


def watch_sigint(callback: Callable[[], None]) -> Optional[Any]:
    """Run ``callback`` in the hub on SIGINT while SIGINT has Python's default handler.

    Returns:
        The watcher (``cancel()`` it when done), or ``None`` where nothing
        was installed: the application has a SIGINT handler of its own (or
        ignores SIGINT), this is not the main thread (signals reach only
        that one), or the platform has no signal watchers.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return None
    try:
        return gevent.signal_handler(signal.SIGINT, callback)
    except (AttributeError, ValueError, OSError):  # pragma: no cover (Windows)
        return None
