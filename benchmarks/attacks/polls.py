"""Held polls that all expire at once: how long another client waits while the server answers them.

    .venv/bin/python -m benchmarks.attacks --only polls [--quick]
    .venv/bin/python -m benchmarks.attacks.polls [--quick]

10,000 xhr-polling sessions (2,000 with ``--quick``) are connected, each on
a keep-alive connection of its own; then each sends its next GET in one
burst, and nothing more: the server holds all of them and, ``polling_duration``
(3 s here) later, answers each with ``8::`` within the same few turns of its
loop (the held polls' deadlines share one timer, ``socketio.deadlines``,
which ends at most ``EXPIRE_PER_TURN`` of them per turn). Measured, next to
the same figure without the attack, in the same run:

- the prober's echo round trip (p50 / p99, and the slowest) from one second
  before the deadline until every poll is answered;
- how long the server took to answer them all (first to last ``8::``), and
  how many it answered;
- the server's CPU time over that window.
"""

from __future__ import annotations

import selectors
import socket
import sys
import threading
import time
from typing import Any

from benchmarks.attacks.common import AttackServer, Prober, latency_text, row
from benchmarks.harness import raise_nofile
from tests.client09.raw import read_answer

HOLD = 3.0
CONNECTORS = 4


def _get(port: int, target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def _connect(port: int, count: int, out: list[tuple[socket.socket, str]]) -> None:
    """``count`` sessions, each handshaken and connected (``1::``) on its own keep-alive socket."""
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(_get(port, "/socket.io/1/"))
        body, held = read_answer(sock, b"")
        sid = body.decode().split(":")[0]
        target = f"/socket.io/1/xhr-polling/{sid}"
        sock.sendall(_get(port, target))
        body, held = read_answer(sock, held)
        if body != b"1::" or held:
            raise RuntimeError(f"session {sid} answered {body!r}")
        out.append((sock, target))


def connect(port: int, count: int) -> list[tuple[socket.socket, str]]:
    """``count`` connected polling sessions, from :data:`CONNECTORS` threads."""
    parts: list[list[tuple[socket.socket, str]]] = [[] for _ in range(CONNECTORS)]
    threads = [
        threading.Thread(target=_connect, args=(port, count // CONNECTORS, part), daemon=True)
        for part in parts
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [session for part in parts for session in part]


def answers(sessions: list[tuple[socket.socket, str]], deadline: float) -> list[float]:
    """Wait for every held GET's ``8::``, until ``deadline``: when each came (monotonic time)."""
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytes] = {}
    for sock, _ in sessions:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        buffers[sock] = b""
    came: list[float] = []
    while buffers and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                chunk = sock.recv(4096)
            except BlockingIOError:
                continue
            data = buffers[sock] + chunk
            if data.endswith(b"8::") or not chunk:
                if chunk:
                    came.append(time.monotonic())
                selector.unregister(sock)
                del buffers[sock]
            else:
                buffers[sock] = data
    selector.close()
    return came


def _with_slowest(summary: dict[str, Any]) -> str:
    return f"{latency_text(summary)}; {summary['max_ms'] or 0:.1f} ms"


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Held polls expiring together: the prober's round trip, the expiry's spread and CPU."""
    count = 2_000 if quick else 10_000
    attack = f"{count:,} held polls expiring at once"
    raise_nofile(count + 1_000)
    with AttackServer(polling_duration=HOLD) as server:
        port = server.port
        sessions = connect(port, count)
        with Prober(port) as quiet:
            time.sleep(HOLD)
        for sock, target in sessions:
            sock.sendall(_get(port, target))
        sent = time.monotonic()
        time.sleep(max(0.0, HOLD - 1.0))
        cpu_before = server.cpu_seconds()
        with Prober(port) as attacked:
            came = answers(sessions, sent + HOLD + 30)
            time.sleep(0.5)
        cpu = server.cpu_seconds() - cpu_before
        for sock, _ in sessions:
            sock.close()
    spread = (came[-1] - came[0]) * 1000 if came else float("nan")
    return [
        row(
            attack,
            "prober's echo round trip (p50 / p99; slowest)",
            _with_slowest(attacked.summary()),
            _with_slowest(quiet.summary()),
        ),
        row(attack, "polls answered 8:: (first to last)", f"{len(came):,} in {spread:.0f} ms", "-"),
        row(
            attack,
            "server CPU from 1 s before the deadline to the last answer",
            f"{cpu:.2f} s",
            "-",
        ),
    ]


if __name__ == "__main__":
    from benchmarks.attacks.__main__ import table

    print(table(run(quick="--quick" in sys.argv)))
