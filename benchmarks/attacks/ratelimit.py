"""One client sending valid events as fast as it can, with and without ``rate_limit``.

    .venv/bin/python -m benchmarks.attacks --only ratelimit [--quick]
    .venv/bin/python -m benchmarks.attacks.ratelimit [--quick]

The attack of issue 20, item 6: valid traffic, which no other limit stops.
Measured against a server without a limit and one with ``rate_limit=50``
(``rate_limit_burst=50``), each next to the prober alone on the same server:

- **websocket flood**: one websocket client sends ``work(0.2)`` events (a
  handler that spends 0.2 ms of CPU; no ack) in batches of 100 frames as
  fast as TCP takes them; another client's round trip (the prober), the
  server's CPU, and the events sent per second;
- **POST flood**: one xhr-polling client POSTs 1,000 ``work(0.2)`` events
  at a time, again as soon as each POST is answered; the prober's round
  trip and the POSTs answered.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from benchmarks.attacks.common import AttackServer, Prober, latency_text, row
from tests.client09.framing import frame
from tests.client09.polling import PollingClient
from tests.client09.raw import PlainWebSocket
from tests.wsframes import ZERO_MASK, client_frame

LIMITED = {"rate_limit": 50, "rate_limit_burst": 50}
#: an event whose handler spends 0.2 ms of CPU (no ack)
WORK = '5:::{"name":"work","args":[0.2]}'


def websocket_flood(server: AttackServer, seconds: float) -> dict[str, Any]:
    """The prober's round trips while a websocket floods events; CPU and rates of the flood."""
    client = PlainWebSocket(server.port, nodelay=True)
    notices = [0]
    stop = threading.Event()

    def reader() -> None:  # (reads what comes back: rate_limited errors, heartbeats)
        try:
            while not stop.is_set():
                if "rate_limited" in client.recv():
                    notices[0] += 1
        except OSError:
            pass

    threading.Thread(target=reader, daemon=True).start()
    batch = client_frame(WORK.encode(), mask=ZERO_MASK) * 100
    sent = 0
    with Prober(server.port) as prober:
        time.sleep(0.5)
        cpu = server.cpu_seconds()
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            client.sock.sendall(batch)
            sent += 100
        elapsed = time.monotonic() - started
        cpu = server.cpu_seconds() - cpu
    stop.set()
    client.close()
    return {
        "prober": prober.summary(),
        "sent_per_s": sent / elapsed,
        "cpu": cpu / elapsed,
        "notices": notices[0],
    }


def post_flood(server: AttackServer, seconds: float) -> tuple[dict[str, Any], int]:
    """The prober's round trips while 1,000-event POSTs follow each other; POSTs answered."""
    flood = PollingClient(f"http://127.0.0.1:{server.port}")
    body = frame(*[WORK] * 1_000)
    posts = 0
    with Prober(server.port) as prober:
        time.sleep(0.5)
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            assert flood.post(body).text == "1"  # (answered once the handlers caught up)
            posts += 1
    flood.close()
    return prober.summary(), posts


def probe_alone(server: AttackServer, seconds: float) -> dict[str, Any]:
    """The prober's round trip with no attack, for ``seconds``."""
    with Prober(server.port) as prober:
        time.sleep(0.5 + seconds)
    return prober.summary()


def run(quick: bool = False) -> list[dict]:
    """The flood of valid events, without and with a rate limit; their rows."""
    seconds = 2.0 if quick else 5.0
    rows = []
    for name, config in (("no limit", {}), ("rate_limit=50", LIMITED)):
        with AttackServer(**config) as server:
            alone = probe_alone(server, seconds)
            ws = websocket_flood(server, seconds)
            rows.append(
                row(
                    f"websocket work(0.2 ms) events as fast as TCP takes them, {name}",
                    "another client's round trip p50 / p99; server CPU",
                    f"{latency_text(ws['prober'])}; CPU {ws['cpu']:.0%} "
                    f"({ws['sent_per_s']:,.0f} events/s sent, {ws['notices']} notices)",
                    latency_text(alone),
                    "50/s handled, one notice a second" if config else "",
                )
            )
            flooded, posts = post_flood(server, seconds)
            rows.append(
                row(
                    f"xhr-polling POSTs of 1,000 work(0.2 ms) events, {name}",
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
