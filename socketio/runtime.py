"""What differs between the interpreters the library runs on, decided in one place.

The library runs on CPython and on PyPy (issue 21). Most of its code is good
on both; where a choice must differ, it is made here, by name, with the
reason, and the modules use the name:

* :data:`PYPY`: the interpreter is PyPy.
* :func:`memo`: a bounded cache of a pure function's results. On CPython
  it is :func:`functools.lru_cache` (written in C there). On PyPy
  ``lru_cache`` is written in Python and takes a lock for every call (twice
  on a miss); the JIT makes a plain dict lookup far cheaper, and several of
  these caches are on the path of every message (the websocket frame of a
  text, the lines of an HTTP answer's head).
* :data:`PARKED_PATH_UNTRACED` and :func:`keep_out_of_traces`: on PyPy the
  functions an idle websocket's greenlet parks in are kept out of JIT
  traces (see there).
* :data:`DIRECT_HUB_SWITCH`: on PyPy a websocket's reader parks with
  greenlet's own ``switch`` (see there).
* :func:`oversized_nursery`: PyPy's young generation, when the machine
  made it too large (the server warns; see there).

This module imports only the standard library.
"""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Callable
from types import CodeType
from typing import Any, Optional, TypeVar

__all__ = [
    "DIRECT_HUB_SWITCH",
    "NURSERY_WARNING_SIZE",
    "PARKED_PATH_UNTRACED",
    "PYPY",
    "RECOMMENDED_NURSERY",
    "keep_out_of_traces",
    "memo",
    "oversized_nursery",
]

#: the interpreter is PyPy (a JIT: small Python functions cost little there,
#: C-implemented helpers of CPython may be pure Python)
PYPY: bool = platform.python_implementation() == "PyPy"

_F = TypeVar("_F", bound=Callable[..., Any])

_MISSING: Any = object()


def _dict_memo(maxsize: int) -> Callable[[_F], _F]:
    """A cache of at most ``maxsize`` results, keyed by the positional arguments.

    Emptied when full rather than kept in order of use: the caches here hold
    a small working set (a server's few header lines, a broadcast's text),
    which refills at once, and no lock is needed (each step is one dict
    operation; two threads can at worst compute a result twice).
    """

    def decorate(function: _F) -> _F:
        cache: dict[Any, Any] = {}

        def cached(*args: Any) -> Any:
            result = cache.get(args, _MISSING)
            if result is _MISSING:
                result = function(*args)
                if len(cache) >= maxsize:
                    cache.clear()
                cache[args] = result
            return result

        cached.cache_clear = cache.clear  # type: ignore[attr-defined]  # (as lru_cache's)
        return functools.update_wrapper(cached, function)  # type: ignore[return-value]

    return decorate


def memo(maxsize: int) -> Callable[[_F], _F]:
    """Decorate a pure function of hashable positional arguments with a bounded cache.

    :func:`functools.lru_cache` on CPython, a plain dict on PyPy (see the
    module's description). Either way at most ``maxsize`` results are kept
    and ``cache_clear()`` empties the cache.
    """
    if PYPY:
        return _dict_memo(maxsize)
    return functools.lru_cache(maxsize=maxsize)  # type: ignore[return-value]


#: On PyPy, the functions a websocket's greenlet stays in for the whole
#: connection are neither traced from their entry nor inlined into other
#: traces. A guard that failed in such a trace left the rest of the function
#: to PyPy's blackhole interpreter, which then stayed on the parked
#: greenlet's stack for as long as the connection lasted (its three register
#: arrays alone are about 6 KiB); see ``benchmarks/LOG.md``, "PyPy: where an
#: idle websocket's memory goes".
PARKED_PATH_UNTRACED: bool = PYPY


#: On PyPy, a websocket reader parks with the greenlet's own ``switch`` to the
#: hub, not gevent's ``hub.switch`` (which checks for a ``switch_out`` hook
#: first, checked by the reader instead): on PyPy that method is one more
#: Python frame on every parked greenlet's stack, and each costs about
#: 0.9 KiB per idle websocket there (its frame object, value stack and the
#: C stack PyPy saves with it). On CPython gevent's method is compiled.
DIRECT_HUB_SWITCH: bool = PYPY


def keep_out_of_traces(*functions: Callable[..., Any]) -> None:
    """Tell PyPy's JIT not to trace ``functions`` from their entry nor inline them (if so chosen).

    Loops inside them are still compiled. Does nothing on CPython, or
    unless :data:`PARKED_PATH_UNTRACED`.
    """
    if not PARKED_PATH_UNTRACED:
        return
    try:
        import pypyjit  # type: ignore[import-not-found]  # (PyPy's own module)
    except ImportError:  # pragma: no cover  (PyPy without its JIT)
        return
    for function in functions:
        code = getattr(getattr(function, "__func__", function), "__code__", None)
        if type(code) is CodeType:  # (a builtin's is not Python code)
            pypyjit.dont_trace_here(0, False, code)


#: a PyPy nursery larger than this (bytes), not chosen, makes the server warn
NURSERY_WARNING_SIZE = 64 * 2**20

#: the ``PYPY_GC_NURSERY`` the warning suggests (the test suite and the
#: benchmarks run with it unless told otherwise; docs/deployment.rst)
RECOMMENDED_NURSERY = "16M"


def oversized_nursery() -> Optional[int]:
    """PyPy's nursery size in bytes, if over :data:`NURSERY_WARNING_SIZE` and not chosen; else ``None``.

    PyPy sizes its nursery (where new objects live until a minor
    collection) at half the "cache size" ``/proc/cpuinfo`` reports. A
    virtual machine may report its host's whole last-level cache: 480 MB on
    the machine this was measured on, hence a 240 MB nursery. Each process
    then holds that much from its start, and frees young garbage (a large
    message's copies among it) only when the nursery fills: a PyPy test
    server grew by 300 MB under 150 MB of messages that it dropped at once.
    ``PYPY_GC_NURSERY`` (read when the process starts) chooses the size;
    when it is set, this returns ``None``.
    """
    if not PYPY or os.environ.get("PYPY_GC_NURSERY"):
        return None
    import gc

    # (PyPy's stats object gives the sizes formatted; its ``_s`` has the numbers)
    size = getattr(getattr(gc.get_stats(), "_s", None), "nursery_size", None)
    if type(size) is not int or size <= NURSERY_WARNING_SIZE:
        return None
    return size
