"""One client against the session layer: the log it writes, the memory it pins, the CPU it takes.

    .venv/bin/python -m benchmarks.attacks --only session [--quick]
    .venv/bin/python -m benchmarks.attacks.session [--quick]

A server (:mod:`benchmarks.attacks.app`, plus a handler ``pair(a, b)`` that
takes exactly two arguments) with the default settings. Measured, each next
to the same figure without the attack, in the same run:

- **log**: the bytes per second the server's log grows while one websocket
  client sends, as fast as the server answers, events with one argument for
  ``pair(a, b)`` (a client mistake; each is answered with an ``error``
  event), against the same flood with two arguments (no mistake). The
  revision before wrote a traceback per event (1,351 bytes per 45-byte frame);
- **idle memory**: the server's resident memory kept by 10 idle
  xhr-polling sessions after each POSTed one 10 MB message, against 10 that
  POSTed ``hello`` (the revision before: +114 MiB);
- **slow consumer**: the memory pinned by a websocket client that sends 150
  ``echo`` events of 1 MB (150 MB of acks) and reads nothing but keeps
  sending heartbeats, against a client that sends the same and reads its
  acks; and whether the server dropped it (``max_queue_bytes``, 16 MiB);
- **POST flood**: another client's round trip (the prober) while one
  xhr-polling client POSTs 10,000 packets at a time (9,999 events of 400
  bytes, then one that asks for an ack, and again once it is answered),
  against the prober alone.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
import urllib.request
from typing import Any

from benchmarks.attacks.common import AttackServer, Prober, latency_text, row
from tests.client09.framing import frame
from tests.client09.polling import PollingClient
from tests.client09.raw import PlainWebSocket, upgrade_request
from tests.wsframes import ZERO_MASK, client_frame

# -- the measures --------------------------------------------------------------------------


def log_flood(server: AttackServer, seconds: float, args: str) -> tuple[float, float, int]:
    """Events ``pair`` with ``args`` as fast as answered: (log bytes/s, events/s, answers).

    Each event asks for an ack: the right ones get it, the wrong ones an
    ``error`` event (and an empty ack, as the original sent).
    """
    client = PlainWebSocket(server.port)
    per_event = 1 if "," in args else 2
    answers = [0]
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                client.recv()
                answers[0] += 1
        except OSError:
            pass

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    frame = client_frame(f'5:1+::{{"name":"pair","args":[{args}]}}'.encode(), mask=ZERO_MASK)
    batch = frame * 100
    before = server.log_size()
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < seconds:
        if sent - answers[0] // per_event > 2000:  # (read the answers: no slow consumer)
            time.sleep(0.001)
            continue
        client.sock.sendall(batch)
        sent += 100
    elapsed = time.monotonic() - started
    time.sleep(0.3)
    written = server.log_size() - before
    stop.set()
    client.close()
    return written / elapsed, sent / elapsed, answers[0] // per_event


def idle_memory(server: AttackServer, size: int, count: int = 10) -> float:
    """MiB of resident memory kept by ``count`` idle sessions that POSTed a message of ``size``."""
    sessions = [PollingClient(f"http://127.0.0.1:{server.port}") for _ in range(count)]
    for s in sessions:
        s.post("3:::hi")
    time.sleep(0.5)
    before = server.rss_mib()
    for s in sessions:
        s.post("3:::" + "x" * size)
    time.sleep(1.0)
    kept = server.rss_mib() - before
    for s in sessions:
        s.close()
    return kept


def slow_consumer(server: AttackServer, reads: bool, count: int) -> tuple[float, bool]:
    """MiB pinned by a client sending ``count`` 1 MB echoes (reading its acks or not); dropped?"""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/socket.io/1/", timeout=10) as r:
        sid = r.read().decode().split(":")[0]
    conn = socket.socket()
    if not reads:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn.connect(("127.0.0.1", server.port))
    conn.settimeout(30)
    conn.sendall(upgrade_request(server.port, sid))
    time.sleep(0.3)
    before = server.rss_mib()
    peak = before
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            try:
                if not conn.recv(1 << 20):
                    return
            except OSError:
                return

    if reads:
        threading.Thread(target=drain, daemon=True).start()
    blob = "x" * 1_000_000
    dropped = False
    try:
        for i in range(count):
            conn.sendall(
                client_frame(
                    f'5:{i + 1}+::{{"name":"echo","args":["{blob}"]}}'.encode(), mask=ZERO_MASK
                )
            )
            conn.sendall(client_frame(b"2::", mask=ZERO_MASK))
            if i % 10 == 9:
                peak = max(peak, server.rss_mib())
    except OSError:
        dropped = True
    time.sleep(1.0)
    peak = max(peak, server.rss_mib())
    if not dropped:
        try:
            conn.sendall(client_frame(b"2::", mask=ZERO_MASK))
            conn.settimeout(0.5)
            while conn.recv(1 << 20):
                pass
            dropped = True
        except TimeoutError:
            pass
        except OSError:
            dropped = True
    stop.set()
    conn.close()
    return peak - before, dropped


def post_flood(server: AttackServer, seconds: float) -> tuple[dict[str, Any], int]:
    """The prober's round trips while 10,000-packet POSTs follow each other; POSTs handled."""
    flood = PollingClient(f"http://127.0.0.1:{server.port}")
    body = frame(
        *[f'5:::{{"name":"echo","args":["{"z" * 400}"]}}'] * 9_999,
        '5:1+::{"name":"echo","args":["end"]}',
    )
    posts = 0
    with Prober(server.port) as prober:
        time.sleep(0.5)
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            flood.post(body)
            while '6:::1+["end"]' not in flood.packets():
                pass
            posts += 1
    flood.close()
    return prober.summary(), posts


def probe_alone(server: AttackServer, seconds: float) -> dict[str, Any]:
    """The prober's round trip with no attack, for ``seconds``."""
    with Prober(server.port) as prober:
        time.sleep(0.5 + seconds)
    return prober.summary()


def run(quick: bool = False) -> list[dict]:
    """The session attacks: log growth, idle memory, a slow consumer, a POST flood; their rows."""
    seconds = 2.0 if quick else 5.0
    rows = []
    with AttackServer() as server:
        bad_rate, bad_events, answered = log_flood(server, seconds, "1")
        good_rate, good_events, _ = log_flood(server, seconds, "1,2")
        lines = sum(
            "invalid_event_args" in line for line in server.log_text().splitlines()
        )  # fmt: skip
        rows.append(
            row(
                "events with the wrong number of arguments, one websocket",
                "log bytes/s (events/s)",
                f"{bad_rate:,.0f} ({bad_events:,.0f}/s; {answered:,} answered, "
                f"{lines} line{'s' if lines != 1 else ''})",
                f"{good_rate:,.0f} ({good_events:,.0f}/s, right arguments)",
                "one line per kind per 10 s; before: 1,351 B per event",
            )
        )
    with AttackServer() as server:
        small = idle_memory(server, 2)
        big = idle_memory(server, 10 * 1000 * 1000)
        rows.append(
            row(
                "10 idle xhr-polling sessions after a 10 MB message each",
                "resident memory kept, MiB",
                f"{big:+.1f}",
                f"{small:+.1f} (after 'hi')",
                "before: +114 MiB",
            )
        )
    count = 60 if quick else 150
    with AttackServer() as server:
        reading, _ = slow_consumer(server, True, count)
    with AttackServer() as server:
        pinned, dropped = slow_consumer(server, False, count)
        rows.append(
            row(
                f"websocket client that sends {count} echoes of 1 MB, reads nothing, answers heartbeats",
                "peak resident memory, MiB",
                f"{pinned:+.1f} ({'dropped' if dropped else 'NOT dropped'})",
                f"{reading:+.1f} (a client that reads)",
                "max_queue_bytes 16 MiB; before: +154 MiB, kept",
            )
        )
    with AttackServer() as server:
        alone = probe_alone(server, seconds)
        flooded, posts = post_flood(server, seconds)
        rows.append(
            row(
                "xhr-polling POSTs of 10,000 packets, one after another",
                "another client's round trip p50 / p99",
                f"{latency_text(flooded)} ({posts} POSTs)",
                latency_text(alone),
                f"max {flooded['max_ms']:.0f} ms" if flooded["count"] else "",
            )
        )
    return rows


if __name__ == "__main__":
    from benchmarks.attacks.__main__ import table

    print(table(run(quick="--quick" in sys.argv)))
