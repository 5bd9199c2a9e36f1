"""Fan-out benchmark: one emit to 1,000 clients, in-memory manager vs Redis manager.

Run it from the repository root (it needs ``redis-server`` on the PATH)::

    .venv/bin/python benchmarks/fanout.py [--clients 1000] [--rounds 20] [--burst 50]

For each setup it starts the servers (``--serve`` mode of this script), a
client process per server holding an equal share of the websocket clients
(``--clients-for`` mode), all in namespace ``/bench``, and a sender connected
to the first server. The sender emits ``fanout``; the server answers with
``broadcast_event_not_me('tick', n)``, so every client should receive one
``tick``. Two measures:

- *single*: one emit at a time; the time from sending it to the moment the
  last client has its ``tick`` (median of ``--rounds``), and deliveries per
  second over that time;
- *burst*: ``--burst`` emits sent back to back; total deliveries per second.

Clocks are ``time.monotonic()``, which is one system-wide clock on Linux, so
times taken in different processes compare. Everything (redis-server,
servers, clients) shares this machine: the numbers measure the whole chain,
client parsing included, and are best compared with each other. With the
in-memory manager each process reaches its own clients only: the
``reached`` column shows why the Redis manager exists.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "/bench"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the server (a subprocess) ---------------------------------------------------


def serve(port: int, manager: Optional[str]) -> None:
    """Serve ``/bench`` on ``port``: ``fanout(n)`` broadcasts ``tick(n)`` to the others."""
    from gevent import monkey

    monkey.patch_all()
    import logging

    from socketio import socketio_manage
    from socketio.mixins import BroadcastMixin
    from socketio.namespace import BaseNamespace
    from socketio.server import SocketIOServer

    logging.basicConfig(level=logging.WARNING)

    class Bench(BaseNamespace, BroadcastMixin):
        def on_fanout(self, n: int) -> None:
            self.broadcast_event_not_me("tick", n)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"].startswith("/socket.io/"):
            socketio_manage(environ, {NAMESPACE: Bench})
            return []
        start_response("404 Not Found", [("Content-Length", "0")])
        return []

    server = SocketIOServer(
        ("127.0.0.1", port),
        app,
        manager=manager,
        policy_server=False,
        heartbeat_interval=600,
        heartbeat_timeout=1200,
        close_timeout=600,
        log=None,
    )
    server.serve_forever()


# -- the clients (a subprocess per server) ---------------------------------------


def run_clients(url: str, count: int) -> None:
    """Hold ``count`` websocket clients; print ``ready``, then ``tick <n> <count> <last>`` lines.

    A ``tick`` line is printed once every client has tick ``n`` or, failing
    that, one second after its first arrival (``count`` is then partial).
    """
    from gevent import monkey

    monkey.patch_all()
    import gevent
    import gevent.lock

    sys.path.append(str(ROOT))  # the tests' wire client (this process serves nothing)
    from tests.client09.handshake import handshake
    from tests.client09.websocket import open_websocket

    counts: dict[int, int] = {}
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    reported: set[int] = set()
    ready = [0]
    prefix = f"5::{NAMESPACE}:"

    connecting = gevent.lock.BoundedSemaphore(50)  # connections opened at a time

    def client() -> None:
        with connecting:
            ws = open_websocket(url, handshake(url, timeout=30).sid, timeout=30)
            ws.settimeout(None)
            ws.send(f"1::{NAMESPACE}")
            while ws.recv() != f"1::{NAMESPACE}":
                pass
        ready[0] += 1
        while True:
            msg = ws.recv()
            if msg.startswith(prefix):
                n = json.loads(msg[len(prefix) :])["args"][0]
                now = time.monotonic()
                counts[n] = counts.get(n, 0) + 1
                first.setdefault(n, now)
                last[n] = now

    def reporter() -> None:
        while True:
            gevent.sleep(0.005)
            now = time.monotonic()
            for n in list(counts):
                if n in reported:
                    continue
                if counts[n] >= count or now - first[n] > 1.0:
                    reported.add(n)
                    print(f"tick {n} {counts[n]} {last[n]!r}", flush=True)

    greenlets = [gevent.spawn(client) for _ in range(count)]
    while ready[0] < count:
        gevent.sleep(0.05)
        failed = [g for g in greenlets if g.dead and g.exception is not None]
        if failed:
            print(f"failed {failed[0].exception!r}", file=sys.stderr, flush=True)
            print("failed", flush=True)
            return
    gevent.spawn(reporter)
    print("ready", flush=True)
    parent = os.getppid()
    while os.getppid() == parent:  # until the orchestrator terminates us (or dies)
        gevent.sleep(1)


# -- the orchestrator ------------------------------------------------------------


@dataclass
class Result:
    """One setup's figures: clients reached, a single emit's delay and rate, a burst's rate."""

    manager: str
    processes: int
    clients: int
    reached: int = 0
    single_ms: float = 0.0
    single_rate: float = 0.0
    burst_rate: float = 0.0
    notes: list[str] = field(default_factory=list)


def spawn(*args: str) -> subprocess.Popen[str]:
    """Start this script again in a subprocess with ``args`` (a server, or a client group)."""
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


@contextmanager
def redis_server() -> Iterator[str]:
    """Run a throwaway redis-server on a free port; yield its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fanout-redis-") as tmp:
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp]
        args += ["--save", "", "--appendonly", "no", "--logfile", os.path.join(tmp, "log")]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                        s.sendall(b"PING\r\n")
                        if s.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.kill()
            proc.wait()


def wait_http(url: str, proc: subprocess.Popen[str]) -> None:
    """Wait until the server ``proc`` answers HTTP at ``url`` (fail if it exits or 20 s pass)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(url + "/socket.io/", timeout=1):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server {url} did not start") from None
            time.sleep(0.05)


def read_lines(proc: subprocess.Popen[str], index: int, out: queue.Queue[Any]) -> None:
    """Put each line ``proc`` prints, split into words, on ``out`` with ``index``."""
    assert proc.stdout is not None
    for line in proc.stdout:
        out.put((index, line.split()))


def run_setup(manager: Optional[str], label: str, processes: int, args: Any) -> Result:
    """Measure one setup: ``processes`` servers sharing ``manager``, the clients spread."""
    sys.path.append(str(ROOT))  # the tests' wire client (this process serves nothing)
    from tests.client09.handshake import handshake
    from tests.client09.websocket import open_websocket

    result = Result(label, processes, args.clients)
    procs: list[subprocess.Popen[str]] = []
    lines: queue.Queue[Any] = queue.Queue()
    try:
        urls = []
        for _ in range(processes):
            port = free_port()
            extra = ["--manager", manager] if manager else []
            procs.append(spawn("--serve", str(port), *extra))
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs):
            wait_http(url, proc)
        shares = [
            args.clients // processes + (i < args.clients % processes) for i in range(processes)
        ]
        client_procs = []
        for index, (url, share) in enumerate(zip(urls, shares)):
            proc = spawn("--clients-for", url, "--count", str(share))
            procs.append(proc)
            client_procs.append(proc)
            threading.Thread(target=read_lines, args=(proc, index, lines), daemon=True).start()
        waiting = set(range(processes))
        while waiting:
            index, words = lines.get(timeout=120)
            if words == ["failed"]:
                raise RuntimeError("clients could not connect")
            if words == ["ready"]:
                waiting.discard(index)

        sender = open_websocket(urls[0], handshake(urls[0], timeout=30).sid, timeout=None)
        sender.send(f"1::{NAMESPACE}")
        while sender.recv() != f"1::{NAMESPACE}":
            pass
        seq = iter(range(1, 1_000_000))

        def emit() -> int:
            n = next(seq)
            sender.send(f'5::{NAMESPACE}:{{"name":"fanout","args":[{n}]}}')
            return n

        def collect(ns: set[int], expect: set[int], timeout: float) -> dict[int, list[Any]]:
            """``{n: [deliveries, last arrival]}`` once every process in ``expect`` reported."""
            got: dict[int, list[Any]] = {n: [0, 0.0] for n in ns}
            pending = {(n, i) for n in ns for i in expect}
            deadline = time.monotonic() + timeout
            while pending:
                try:
                    index, words = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if words[0] != "tick":
                    continue
                n, count, last = int(words[1]), int(words[2]), float(words[3])
                if n in got:
                    got[n][0] += count
                    got[n][1] = max(got[n][1], last)
                    pending.discard((n, index))
            return got

        # Warm-up: which client processes does an emit reach at all?
        t0 = time.monotonic()
        n = emit()
        warm = collect({n}, set(range(processes)), timeout=3.0)
        expect = {i for i in range(processes)}
        if warm[n][0] < args.clients:
            expect = {0}  # only the sender's own process (the in-memory manager)
            collect(set(), set(), timeout=1.5)  # let late partial reports drain
        result.reached = warm[n][0]

        durations, rates = [], []
        for _ in range(args.rounds):
            t0 = time.monotonic()
            n = emit()
            got = collect({n}, expect, timeout=30)
            elapsed = got[n][1] - t0
            durations.append(elapsed)
            rates.append(got[n][0] / elapsed)
        result.single_ms = statistics.median(durations) * 1000
        result.single_rate = statistics.median(rates)

        t0 = time.monotonic()
        burst = {emit() for _ in range(args.burst)}
        got = collect(burst, expect, timeout=60)
        total = sum(count for count, _ in got.values())
        result.burst_rate = total / (max(last for _, last in got.values()) - t0)
        if total < args.burst * result.reached:
            result.notes.append(f"burst: {total} of {args.burst * result.reached} delivered")
        sender.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return result


def main() -> None:
    """Measure broadcast fan-out for each manager setup and print the table (or serve)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20, help="single emits measured")
    parser.add_argument("--burst", type=int, default=50, help="emits sent back to back")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--manager", help=argparse.SUPPRESS)
    parser.add_argument("--clients-for", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.manager)
        return
    if args.clients_for:
        run_clients(args.clients_for, args.count)
        return

    started = time.monotonic()
    results = []
    with redis_server() as url:
        setups = [
            (None, "memory", 1),
            (None, "memory", 2),
            (url, "redis", 1),
            (url, "redis", 2),
        ]
        for manager, label, processes in setups:
            print(f"... {label}, {processes} process(es), {args.clients} clients", file=sys.stderr)
            results.append(run_setup(manager, label, processes, args))

    print()
    print(
        f"Fan-out of one emit to {args.clients} websocket clients "
        f"({os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
        f"servers, clients and redis-server on this machine)"
    )
    print()
    head = (
        "manager",
        "procs",
        "clients",
        "reached",
        "single: last ms",
        "single: deliv/s",
        "burst: deliv/s",
    )
    rows = [
        (
            r.manager,
            str(r.processes),
            str(r.clients),
            str(r.reached),
            f"{r.single_ms:.1f}",
            f"{r.single_rate:,.0f}",
            f"{r.burst_rate:,.0f}",
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths))
            )
        )
    for r in results:
        for note in r.notes:
            print(f"note ({r.manager}, {r.processes} procs): {note}")
    print()
    print(
        f"single: median of {args.rounds} emits, time from sending to the last delivery; "
        f"burst: {args.burst} emits back to back. Total run {time.monotonic() - started:.0f} s."
    )


if __name__ == "__main__":
    main()
