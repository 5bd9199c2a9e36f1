"""Instructions and simulated cache misses per echo, counted by valgrind.

    apt-get install valgrind
    .venv/bin/python -m benchmarks.instructions [--clients 100,500] [--burst 1]
                                                [--transport websocket|xhr-polling]
                                                [--ours-rev REV] [--base-rev REV]
                                                [--ours-metrics]

Timings on this machine spread by ±10-30 % between runs, more than most single
changes move them. This counts instead: it runs our server and N websocket
clients in one process under ``valgrind --tool=cachegrind``, each client sending
``--burst`` event-with-ack echoes per round (a burst is written at once, as a
client flushing what it buffered does) and reading the acks, and prints per
message the instructions executed in user space, the misses of a simulated L1
data cache, and those of a simulated last-level cache the size of one core's L2
here (1 MiB: what a message touches beyond it comes from the shared L3 or
memory). With ``--transport xhr-polling`` each client instead holds a GET and
POSTs one echo per round on a second keep-alive connection, as workload D does
(two requests per message; ``--burst`` does not apply). The process is counted
at two numbers of rounds and the difference divided by the messages between
them, so start-up and connecting cancel out. ``--ours-metrics`` serves "ours"
with ``metrics=True`` (the counters on: compare with ``--base-rev`` the same
revision to see what they cost).

The clients' side is counted too (a ``sendall`` and a ``recv`` per message, or
two of each for xhr-polling, the same for every revision); the kernel is not.
Counts are exact for a given Python and library build and hardly move between
runs, so a change is measured against ``--base-rev`` in one invocation. They
are a proxy: misses of a simulated cache, not time; use the suite for time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

BENCH_DIR = Path(__file__).resolve().parent

#: a small echo with ack, as the suite's load generator sends (a zero masking key)
ECHO = (
    b'5:1+::{"name":"echo","args":[{"seq":12345,"text":"hello, world","values":[1,2,3],"ok":true}]}'
)
#: rounds before the counted ones (connecting and the first messages warm up)
WARM_ROUNDS = 2
#: at least this many messages between the two counts
COUNTED_MESSAGES = 2000


def run_clients(
    clients: int, rounds: int, burst: int, transport: str = "websocket", metrics: bool = False
) -> None:
    """In this process: serve ``ours_app`` and drive ``clients`` clients for ``rounds``."""
    from gevent import monkey

    monkey.patch_all()
    sys.path.insert(0, str(BENCH_DIR))
    from ours_app import application

    import socketio
    from socketio.server import SocketIOServer

    # The tests' wire client, reached once socketio is imported: the
    # repository's socketio/ beside it must not replace the one counted.
    sys.path.append(str(BENCH_DIR.parent))
    from tests.client09.raw import PollingClient, raw_websocket

    print(f"serving {socketio.__file__}", flush=True)
    # No heartbeat or expiry within a run: under valgrind one lasts long enough
    # for them to fire, at moments that differ between runs.
    server = SocketIOServer(
        ("127.0.0.1", 0),
        application,
        policy_server=False,
        log=None,
        heartbeat_interval=3600,
        heartbeat_timeout=7200,
        close_timeout=7200,
        **({"metrics": True} if metrics else {}),
    )
    server.start()
    port = server.server_port

    if transport == "xhr-polling":
        pollers = [PollingClient(port, ECHO, b"6:::1+") for _ in range(clients)]
        for _ in range(rounds):
            for poller in pollers:
                poller.send()
            for poller in pollers:
                poller.receive()
        server.stop()
        return
    conns = [raw_websocket(port) for _ in range(clients)]
    frames = (bytes((0x81, 0x80 | len(ECHO))) + b"\0\0\0\0" + ECHO) * burst
    for _ in range(rounds):
        for conn in conns:
            conn.sendall(frames)
        for conn in conns:
            acks = 0
            while acks < burst:
                acks += conn.recv(65536).count(b"6:::")
    server.stop()


def _summary(path: Path) -> dict[str, int]:
    events: list[str] = []
    values: list[int] = []
    for line in path.read_text().splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("summary:"):
            values = [int(v) for v in line.split()[1:]]
    if len(events) != len(values):  # zip(strict=) is Python 3.10+; PyPy is 3.9
        raise ValueError(f"cachegrind summary: {len(values)} values for {len(events)} events")
    return dict(zip(events, values))


def count(
    library: Optional[Path],
    clients: int,
    burst: int,
    out: Path,
    transport: str = "websocket",
    metrics: bool = False,
) -> dict[str, float]:
    """Per message: ``Ir`` instructions, ``D1`` and ``LL`` misses (reads and writes)."""
    env = dict(os.environ, PYTHONHASHSEED="0")  # the same dict layouts in every run
    if library is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(library), env.get("PYTHONPATH")) if p)
    if transport != "websocket":
        burst = 1
    per_round = clients * burst
    counted = -(-COUNTED_MESSAGES // per_round)  # rounds, rounded up
    totals = []
    for rounds in (WARM_ROUNDS, WARM_ROUNDS + counted):
        result = out / f"cachegrind.{transport}.{clients}.{burst}.{rounds}.{metrics}.out"
        # Run from benchmarks/ (not -m from the repository root, whose socketio/
        # would come first on sys.path): socketio comes from PYTHONPATH or the install.
        child = (
            "import instructions; "
            f"instructions.run_clients({clients}, {rounds}, {burst}, {transport!r}, {metrics})"
        )
        served = subprocess.run(
            [
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=yes",
                "--LL=1048576,16,64",
                f"--cachegrind-out-file={result}",
                sys.executable,
                "-c",
                child,
            ],
            cwd=BENCH_DIR,
            env=env,
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        ).stdout
        if library is not None and str(library) not in served:
            raise RuntimeError(f"the snapshot in {library} was not served: {served.strip()}")
        totals.append(_summary(result))
    first, last = totals
    messages = counted * per_round

    def per(*names: str) -> float:
        return sum(last[n] - first[n] for n in names) / messages

    return {"Ir": per("Ir"), "D1": per("D1mr", "D1mw"), "LL": per("DLmr", "DLmw")}


def main(argv: Optional[list[str]] = None) -> int:
    """Count the CPU instructions the server spends per message; print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--clients", default="100,500", help="comma-separated client counts")
    parser.add_argument("--burst", type=int, default=1, help="echoes each client sends at once")
    parser.add_argument("--transport", default="websocket", choices=("websocket", "xhr-polling"))
    parser.add_argument("--ours-rev", metavar="REV", help="count socketio/ as of this revision")
    parser.add_argument("--base-rev", metavar="REV", help="and as of this one, for ours/base")
    parser.add_argument(
        "--ours-metrics", action="store_true", help="serve ours with metrics=True (counters on)"
    )
    args = parser.parse_args(argv)
    from .harness import library_snapshot, raise_nofile, work_tree_version

    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="sio-instructions-") as tmp:
        tmpdir = Path(tmp)
        targets: list[tuple[str, Optional[Path], str]] = []
        if args.ours_rev:
            commit = library_snapshot(args.ours_rev, tmpdir / "ours")
            targets.append(("ours", tmpdir / "ours", commit))
        else:
            targets.append(("ours", None, f"{work_tree_version()} (work tree)"))
        if args.base_rev:
            commit = library_snapshot(args.base_rev, tmpdir / "base")
            targets.append(("base", tmpdir / "base", commit))
        print(
            "; ".join(f"{name}: socketio at {what}" for name, _, what in targets),
            f"(python {sys.version.split()[0]}, {args.transport}, burst {args.burst})",
        )
        rows = [
            "| clients | target | instructions/msg | L1d misses/msg | 1 MiB LL misses/msg |",
            "|---------|--------|------------------|----------------|---------------------|",
        ]
        for clients in (int(c) for c in args.clients.split(",")):
            measured = {}
            for name, library, _ in targets:
                metrics = args.ours_metrics and name == "ours"
                measured[name] = m = count(
                    library, clients, args.burst, tmpdir, args.transport, metrics
                )
                rows.append(
                    f"| {clients:>7} | {name:6} | {m['Ir']:16,.0f} | {m['D1']:14,.0f} "
                    f"| {m['LL']:19,.1f} |"
                )
            if "base" in measured:
                o, b = measured["ours"], measured["base"]
                rows.append(
                    f"| {clients:>7} | ours/base | {o['Ir'] / b['Ir']:15.3f}x "
                    f"| {o['D1'] / b['D1']:13.3f}x | {o['LL'] / b['LL']:18.3f}x |"
                )
        print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
