"""What the test application lets a test observe of the server.

The application (``server_app.py``) records the hooks that ran (``/_events``),
the live sessions (``/_sockets``) and the ``socketio_manage`` calls that
returned (``/_ended``); the server's log is kept too. These read them.
"""

from __future__ import annotations

import os
import time

from tests.client09.waiting import wait_for

from .conftest import LiveServer


def hooks(server: LiveServer, sid: str, ns: str | None = None) -> list[tuple]:
    """``(kind, namespace, detail)`` of the hooks that ran for session ``sid``."""
    return [
        (kind, name, detail)
        for kind, name, s, detail in server.events()
        if s == sid and (ns is None or name == ns)
    ]


def kinds(server: LiveServer, sid: str) -> list[str]:
    """The kinds of the hooks that ran for session ``sid``, in order."""
    return [kind for kind, _, _ in hooks(server, sid)]


def ended(server: LiveServer, sid: str) -> bool:
    """``socketio_manage`` returned for ``sid``."""
    return any(s == sid for s, _ in server.get_json("/_ended"))


def wait_gone(server: LiveServer, sid: str, timeout: float = 5) -> float:
    """Wait until ``sid`` left ``server.sockets``; return how long it took."""
    start = time.monotonic()
    wait_for(lambda: sid not in server.sockets(), timeout, f"{sid} to leave server.sockets")
    return time.monotonic() - start


def queued(server: LiveServer, sid: str) -> int | None:
    """How many packets wait at the server for a polling GET of ``sid`` (``None``: no session)."""
    count: int | None = server.get_json(f"/_queued?sid={sid}")
    return count


def errors_in_log(server: LiveServer, offset: int = 0) -> list[str]:
    """Tracebacks and ERROR lines logged since ``offset``."""
    text = server.log()[offset:]
    return [
        line
        for line in text.splitlines()
        if line.startswith(("ERROR", "CRITICAL", "Traceback")) or "Traceback" in line
    ]


def rss_mib(server: LiveServer) -> float:
    """The server process's resident memory, in MiB."""
    assert server.proc is not None
    with open(f"/proc/{server.proc.pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def kept_mib(server: LiveServer) -> float:
    """What the test server still references, in MiB, after a full collection (its ``/_gc``).

    CPython frees an object when its last reference goes: its resident
    memory. PyPy frees garbage at its collections, keeps the memory it freed
    (and sizes its nursery from the CPU's reported cache: 240 MB on a machine
    that reports 480 MB): its heap's bytes in use, outside the nursery.
    """
    heap = server.get_json("/_gc")
    return rss_mib(server) if heap is None else heap / 2**20
