"""A hung and a restarted Redis: what emitting handlers and cross-process delivery feel.

    .venv/bin/python -m benchmarks.attacks --only redis [--quick]
    .venv/bin/python -m benchmarks.attacks.redis [--quick]

A redis-server of its own (a free port, no persistence) and two servers
(:mod:`benchmarks.attacks.app`) sharing it through the Redis manager, with
its default settings. A client on server A sends ``broadcast`` with an ack
every 20 ms (the handler calls ``broadcast_event``, which publishes); a
client on server B records when each ``tick`` arrives. The prober of
:mod:`benchmarks.attacks.common` does not touch Redis, hence this probe.

Measured, each next to the same figure without the fault, in the same run:

- the ack round trip of the emitting handler while Redis is stopped with
  SIGSTOP (hung: the kernel still accepts connections and data, nobody
  answers) for 8 s (3 s with ``--quick``);
- after ``SIGCONT``, and after Redis is killed and started again on the same
  port (as long after), the time until a broadcast from A reaches B again (the baseline is
  the usual A→B delay);
- the emits the manager dropped (counted, and logged once per outage).
"""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Optional

from benchmarks.attacks.common import AttackServer, free_port, row
from tests.client09.raw import PlainWebSocket

INTERVAL = 0.02


class RedisProcess:
    """A redis-server on a free port, persisting nothing; can be stopped, killed, restarted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="attack-redis-")
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> float:
        """Start it and wait until it answers; returns the monotonic time it did."""
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", self._dir.name, "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            )
            if done.stdout.strip() == "PONG":
                return time.monotonic()
            time.sleep(0.01)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def signal(self, signum: int) -> None:
        """Send ``signum`` to redis-server (SIGSTOP hangs it, SIGCONT resumes it)."""
        assert self.proc is not None
        self.proc.send_signal(signum)

    def kill(self) -> None:
        """Kill redis-server (resumed first if it was stopped) and wait for it to exit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        """Kill redis-server and remove its directory."""
        self.kill()
        self._dir.cleanup()


class Broadcaster:
    """On server A: ``broadcast`` with an ack every 20 ms; each send time and round trip."""

    def __init__(self, port: int) -> None:
        self.client = PlainWebSocket(port)
        self.sent: dict[int, float] = {}  # n -> monotonic time sent
        self.acks: list[tuple[float, float]] = []  # (time sent, round trip)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            started = time.monotonic()
            self.sent[n] = started
            self.client.send(f'5:{n}+::{{"name":"broadcast","args":[{n}]}}')
            while not self.client.recv().startswith(f"6:::{n}+"):
                pass
            self.acks.append((started, time.monotonic() - started))
            self._stop.wait(INTERVAL)

    def round_trips(self, start: float, end: float) -> list[float]:
        """The ack round trips of the broadcasts sent between ``start`` and ``end``."""
        return [rtt for sent, rtt in list(self.acks) if start <= sent < end]

    def close(self) -> None:
        """Stop broadcasting and close the client."""
        self._stop.set()
        self._thread.join(15)
        self.client.close()


class Receiver:
    """On server B: the arrival time of every ``tick``."""

    def __init__(self, port: int) -> None:
        self.client = PlainWebSocket(port)
        self.arrived: dict[int, float] = {}
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop:
                text = self.client.recv()
                if text.startswith("5:::"):
                    event = json.loads(text[4:])
                    if event.get("name") == "tick":
                        self.arrived.setdefault(event["args"][0], time.monotonic())
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        """Stop recording and close the client."""
        self._stop = True
        self.client.close()


def first_delivery_after(sender: Broadcaster, receiver: Receiver, since: float) -> Optional[float]:
    """Seconds from ``since`` to the arrival on B of the first broadcast A sent after it."""
    arrivals = [
        receiver.arrived[n]
        for n, sent in list(sender.sent.items())
        if sent >= since and n in receiver.arrived
    ]
    return min(arrivals) - since if arrivals else None


def wait_for_delivery(sender: Broadcaster, receiver: Receiver, since: float, limit: float) -> float:
    """Seconds from ``since`` until a broadcast reaches B (inf if none within ``limit``)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = first_delivery_after(sender, receiver, since)
        if found is not None:
            return found
        time.sleep(0.01)
    return float("inf")


def ms(values: list[float], q: float) -> str:
    """The ``q`` quantile of ``values`` (seconds) in milliseconds, as text."""
    if not values:
        return "n/a"
    values = sorted(values)
    return f"{values[min(len(values) - 1, int(len(values) * q))] * 1000:.1f} ms"


def seconds(value: float, limit: float) -> str:
    """A delay as text: seconds or milliseconds, or ``never`` past ``limit``."""
    if value == float("inf"):
        return f"never (> {limit:.0f} s)"
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.1f} ms"


def dropped(server: AttackServer) -> int:
    """Emits the manager reported dropped, from its recovery lines."""
    return sum(int(n) for n in re.findall(r"(\d+) emits reached", server.log_text()))


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Hang Redis, then restart it: the emitter's round trip, redelivery times and dropped emits."""
    hang = 3.0 if quick else 8.0
    calm = 2.0 if quick else 4.0
    redis = RedisProcess()
    redis.start()
    rows: list[dict[str, Any]] = []
    try:
        with AttackServer(manager=redis.url) as a, AttackServer(manager=redis.url) as b:
            receiver = Receiver(b.port)
            sender = Broadcaster(a.port)
            try:
                time.sleep(calm)
                base_end = time.monotonic()
                base_rtt = sender.round_trips(base_end - calm + 0.5, base_end)
                delays = [
                    receiver.arrived[n] - sent
                    for n, sent in list(sender.sent.items())
                    if n in receiver.arrived and sent < base_end
                ]
                usual = statistics.median(delays) if delays else float("inf")

                redis.signal(signal.SIGSTOP)
                stopped = time.monotonic()
                time.sleep(hang)
                redis.signal(signal.SIGCONT)
                resumed = time.monotonic()
                after_cont = wait_for_delivery(sender, receiver, resumed, 10)
                time.sleep(0.2)
                # Every emit sent during the hang, its ack perhaps after it.
                hung_rtt = sender.round_trips(stopped, resumed)

                redis.kill()
                time.sleep(hang)
                restarted = redis.start()
                after_restart = wait_for_delivery(sender, receiver, restarted, 15)
                time.sleep(0.5)
                lost = dropped(a)
            finally:
                sender.close()
                receiver.close()
            log_a = a.log_text()
    finally:
        redis.stop()
    what = f"Redis SIGSTOPped {hang:.0f} s"
    rows.append(
        row(what, "emitting handler's ack p99", ms(hung_rtt, 0.99), ms(base_rtt, 0.99), "< 500 ms")
    )
    rows.append(
        row(what, "emitting handler's ack max", ms(hung_rtt, 1.0), ms(base_rtt, 1.0), "< 500 ms")
    )
    rows.append(
        row(
            what,
            "SIGCONT to first A→B delivery",
            seconds(after_cont, 10),
            seconds(usual, 10),
            "~1 s",
        )
    )
    rows.append(
        row(
            "Redis killed, restarted",
            "restart to first A→B delivery",
            seconds(after_restart, 15),
            seconds(usual, 10),
            "~1 s",
        )
    )
    warnings = sum(line.startswith("WARNING socketio") for line in log_a.splitlines())
    rows.append(
        row(
            "both faults",
            "emits dropped on A (WARNING lines)",
            f"{lost} ({warnings})",
            "0",
            "counted; 1 warning per outage",
        )
    )
    return rows


if __name__ == "__main__":
    from benchmarks.attacks.__main__ import table

    print(table(run(quick="--quick" in sys.argv)))
    os._exit(0)
