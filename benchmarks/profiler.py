"""Profile our server under one workload with py-spy, and summarise where the time goes.

    .venv/bin/pip install py-spy
    .venv/bin/python -m benchmarks.profiler [--workload B100] [--seconds 10] [--out DIR]

Starts ``benchmarks/ours_app.py`` on core 0, attaches ``py-spy record`` to it
(collapsed stacks and a flame graph SVG in ``--out``, default ``$TMPDIR`` or ``/tmp``), runs
the load generator on core 1, then prints the functions with the most time
on CPU (self and inclusive) and the time by area of code: our package,
gevent-websocket, gevent's hub and queues, pywsgi, JSON, logging.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .harness import (
    LoadGen,
    ServerProcess,
    ensure_node_modules,
    flavour,
    library_snapshot,
    raise_nofile,
    work_tree_version,
)
from .suite import WORKLOADS

#: (area, substring of a frame "function (file:line)") in the order they are tried
#: on a stack's leaf-most matching frame.
AREAS = [
    ("json", "(json/"),
    ("logging", "(logging/"),
    ("inspect (signature per event)", "(inspect.py"),
    ("socketio.packet", "socketio/packet.py"),
    ("socketio.payload", "socketio/payload.py"),
    ("socketio.virtsocket", "socketio/virtsocket.py"),
    ("socketio.namespace", "socketio/namespace.py"),
    ("socketio.transports", "socketio/transports.py"),
    ("socketio.handler", "socketio/handler.py"),
    ("socketio.manager", "socketio/manager.py"),
    ("socketio.pubsub", "socketio/pubsub.py"),
    ("socketio (other)", "socketio/"),
    ("geventwebsocket", "(geventwebsocket/"),
    ("gevent.pywsgi", "(gevent/pywsgi.py"),
    ("gevent.queue", "(gevent/queue.py"),
    ("gevent sockets (send/recv)", "(gevent/_socket"),
    ("gevent hub loop (C: libev, epoll, switches)", "Hub.run (gevent/hub.py"),
    ("gevent greenlets / events / timeouts", "(gevent/"),
]


def area_of(stack: list[str]) -> str:
    """The area of the leaf-most frame that belongs to a known area."""
    for frame in reversed(stack):
        for area, needle in AREAS:
            if needle in frame:
                return area
    return "other"


def _function(frame: str) -> str:
    """``f (file.py:12)`` -> ``f (file.py)``: one entry per function, whatever the line."""
    name, sep, where = frame.rpartition(" (")
    if not sep:
        return frame
    return f"{name} ({where.rsplit(':', 1)[0].rstrip(')')})"


def summarise(collapsed: Path, top: int = 25) -> str:
    """The hottest functions (self and inclusive) and the time per area of a py-spy profile."""
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    areas: collections.Counter[str] = collections.Counter()
    total = 0
    other_threads = 0
    for line in collapsed.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text:
            continue
        count = int(count_text)
        if "gevent/threadpool.py" in stack_text:
            other_threads += count  # an idle worker thread of gevent's threadpool
            continue
        stack = [_function(f) for f in stack_text.split(";")]
        total += count
        leaf = stack[-1]
        self_time[leaf] += count
        for frame in set(stack):
            inclusive[frame] += count
        areas[area_of(stack)] += count
    if not total:
        return "no samples"
    out = [
        f"{total} samples of the main thread ({other_threads} of idle threadpool threads left out);",
        "a leaf 'Hub.run' is the hub's C loop: libev, epoll and greenlet switches",
        "",
        "by area (leaf-most frame):",
    ]
    for area, count in areas.most_common():
        out.append(f"  {100 * count / total:5.1f}%  {area}")
    out += ["", f"top {top} self:"]
    for frame, count in self_time.most_common(top):
        out.append(f"  {100 * count / total:5.1f}%  {frame}")
    out += ["", f"top {top} inclusive:"]
    for frame, count in inclusive.most_common(top + 10)[:top]:
        out.append(f"  {100 * count / total:5.1f}%  {frame}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Profile the server under a workload with py-spy and print the summary."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profiler", description=__doc__)
    parser.add_argument("--workload", default="B100", choices=[n for n in WORKLOADS if n != "E"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--out", default=os.environ.get("TMPDIR", "/tmp"))
    parser.add_argument("--native", action="store_true", help="py-spy --native (C frames too)")
    parser.add_argument(
        "--nonblocking",
        action="store_true",
        help="do not pause the server to sample (less overhead, racy stacks)",
    )
    parser.add_argument("--ours-rev", metavar="REV", help="profile socketio/ as of this revision")
    args = parser.parse_args(argv)

    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(pyspy).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    ensure_node_modules()
    raise_nofile()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workload = WORKLOADS[args.workload]
    config = workload.config(False)
    if "duration_ms" in config:
        config["duration_ms"] = int(args.seconds * 1000) + 2000
    collapsed = out / f"profile-{args.workload}.txt"
    svg = out / f"profile-{args.workload}.svg"
    library = None
    if args.ours_rev:
        library = Path(tempfile.mkdtemp(prefix="bench-socketio-"))
        print(f"socketio at {library_snapshot(args.ours_rev, library)}")
    else:
        print(f"socketio at {work_tree_version()} (work tree)")
    with ServerProcess("ours", cpu=0, library=library) as server:
        config.update(flavour=flavour("ours"), port=server.port)
        spy: dict[str, subprocess.Popen] = {}

        def on_mark(name: str, loadgen: LoadGen) -> None:
            if name in ("start", "connected") and not spy:
                base = ["taskset", "-c", "1", pyspy, "record", "--pid", str(server.pid)]
                base += ["--rate", str(args.rate), "--duration", str(int(args.seconds))]
                base += ["--native"] if args.native else []
                base += ["--nonblocking"] if args.nonblocking else []
                # Two samplers: collapsed stacks to summarise, and a flame graph to look at.
                for fmt, path in (("raw", collapsed), ("flamegraph", svg)):
                    spy[fmt] = subprocess.Popen(
                        [*base, "--format", fmt, "-o", str(path)],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )

        result = LoadGen(config, cpu=1).run(on_mark)
        for proc in spy.values():
            proc.wait(args.seconds + 30)
    print(f"{args.workload}: {result}")
    if collapsed.exists():
        print(f"collapsed stacks: {collapsed}\nflame graph: {svg}\n")
        print(summarise(collapsed))
    else:
        print("py-spy produced nothing (is ptrace allowed?)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
