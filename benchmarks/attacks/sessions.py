"""A flood of handshakes that never connect: what it costs, and what a new client feels.

    .venv/bin/python -m benchmarks.attacks --only sessions [--quick]
    .venv/bin/python -m benchmarks.attacks.sessions [--quick]

A server (:mod:`benchmarks.attacks.app`) with the default settings
(``max_pending_sessions=10,000``; 1,000 with ``--quick``) receives
handshakes from four keep-alive connections as fast as it answers them, and
none of those sessions ever opens a transport: 20,000 of them (4,000 with
``--quick``), twice the cap. Measured, each next to the same figure without
the flood, in the same run:

- the server's memory per pending session (resident memory after exactly
  ``max_pending_sessions`` handshakes, less before, divided by their number),
  and its growth over the handshakes past the cap (bounded: the oldest
  pending session is dropped for each new one);
- how many of the flood's sessions are still there at the end (each asked
  once with a polling GET: ``1::`` if it is, ``7:::1+0`` if it was dropped);
- a new client's handshake followed by its websocket's ``1::``, every 20 ms
  during the flood (p50 / p99);
- the round trip of a websocket client already connected (the prober).
"""

from __future__ import annotations

import http.client
import statistics
import sys
import threading
import time
from typing import Any

from benchmarks.attacks.common import AttackServer, Prober, latency_text, row
from tests.client09.raw import PlainWebSocket

FLOODERS = 4


def _flood(port: int, count: int, sids: list[str]) -> None:
    """``count`` handshakes over one keep-alive connection; their ids go into ``sids``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for _ in range(count):
            conn.request("GET", "/socket.io/1/")
            resp = conn.getresponse()
            body = resp.read().decode()
            if resp.status == 200:
                sids.append(body.split(":")[0])
    finally:
        conn.close()


def flood(port: int, count: int) -> list[str]:
    """``count`` handshakes from :data:`FLOODERS` connections at once; the ids, in no order."""
    per = [[] for _ in range(FLOODERS)]  # type: list[list[str]]
    threads = [
        threading.Thread(target=_flood, args=(port, count // FLOODERS, per[i]), daemon=True)
        for i in range(FLOODERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [sid for part in per for sid in part]


class NewClients:
    """A new client every ``interval`` seconds: handshake, websocket, ``1::``; records how long."""

    def __init__(self, port: int, interval: float = 0.02) -> None:
        self.port = port
        self.interval = interval
        self.times: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> NewClients:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                client = PlainWebSocket(self.port)  # handshake, upgrade, 1::
                self.times.append(time.monotonic() - started)
                client.close()
            except (OSError, ValueError):
                self.failures += 1
            self._stop.wait(self.interval)

    def text(self) -> str:
        """Handshake-and-connect times as text: p50 / p99 in ms, and how many failed."""
        if not self.times:
            return f"none connected ({self.failures} failed)"
        values = sorted(self.times)
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        text = f"{statistics.median(values) * 1000:.1f} / {p99 * 1000:.1f} ms"
        return text + (f" ({self.failures} failed)" if self.failures else "")


def still_pending(port: int, sids: list[str]) -> int:
    """How many of ``sids`` the server still has (a polling GET each: ``1::`` or ``7:::1+0``)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    alive = 0
    try:
        for sid in sids:
            conn.request("GET", f"/socket.io/1/xhr-polling/{sid}")
            resp = conn.getresponse()
            if resp.read() == b"1::":
                alive += 1
    finally:
        conn.close()
    return alive


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Never-connected handshakes: memory per pending session, survivors, new clients' times."""
    cap = 1_000 if quick else 10_000
    total = 2 * cap
    config: dict[str, Any] = {} if not quick else {"max_pending_sessions": cap}
    attack = f"{total:,} handshakes, never connected"
    with AttackServer(**config) as server:
        port = server.port
        time.sleep(0.5)
        with Prober(port) as prober, NewClients(port) as base_clients:
            time.sleep(3 if quick else 5)
        baseline = prober.summary()
        rss_before = server.rss_mib()
        first = flood(port, cap)  # up to the cap: each one still held
        rss_at_cap = server.rss_mib()
        with Prober(port) as attacked, NewClients(port) as new_clients:
            rest = flood(port, total - cap)
        rss_after = server.rss_mib()
        sids = first + rest
        alive = still_pending(port, sids)
        log = server.log_text()
    per_session = (rss_at_cap - rss_before) * 2**20 / max(1, len(first))
    dropped_lines = sum(1 for line in log.splitlines() if "handshaken and not connected" in line)
    return [
        row(attack, "server memory per pending session", f"{per_session:,.0f} B", "-"),
        row(
            attack,
            f"memory growth over the {len(rest):,} handshakes past the cap",
            f"{rss_after - rss_at_cap:+.1f} MiB",
            f"{rss_at_cap - rss_before:+.1f} MiB for the first {len(first):,}",
            f"max_pending_sessions={cap:,}",
        ),
        row(attack, "flood sessions still held at the end", f"{alive:,}", "-", f"{cap:,}"),
        row(attack, "lines logged about dropped sessions", dropped_lines, 0, "1 per 10 s"),
        row(
            attack,
            "new client: handshake + websocket 1:: (p50 / p99)",
            new_clients.text(),
            base_clients.text(),
        ),
        row(
            attack,
            "connected client's echo round trip (p50 / p99)",
            latency_text(attacked.summary()),
            latency_text(baseline),
        ),
    ]


if __name__ == "__main__":
    from benchmarks.attacks.__main__ import table

    print(table(run(quick="--quick" in sys.argv)))
