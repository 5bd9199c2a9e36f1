"""The benchmark suite: workloads A-E against our server, the reference and the bare stack.

    .venv/bin/python -m benchmarks [--quick] [--workloads A,B,...] [--runs 3]
        [--interpreters cpython,pypy] [--jit-warmup 10]

Our server (and the bare stack) can run on several Python interpreters in the
same run: one column each (``ours@cpython``, ``ours@pypy``), against the one
reference.

See ``benchmarks/README.md`` for what each workload measures.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .harness import (
    INTERPRETERS,
    TARGETS,
    BenchmarkError,
    Interpreter,
    LoadGen,
    ServerProcess,
    ensure_node_modules,
    flavour,
    library_snapshot,
    node,
    probe_interpreter,
    raise_nofile,
    work_tree_version,
)

#: the targets that run on a Python interpreter: one column per interpreter
PYTHON_TARGETS = ("ours", "bare", "base")
#: seconds of warm-up before each measurement on a JIT interpreter (PyPy), by default
JIT_WARMUP = 10.0
#: E's warm-up connects (and closes) at least this many clients, however long it takes:
#: PyPy's handshake path is still cold after 2,000 (README, "Interpreters")
IDLE_WARMUP_CONNECTIONS = 10000


@dataclass
class Workload:
    """One workload: its name, title, load generator config and the metrics it reports."""

    name: str
    title: str
    config: Callable[[bool], dict[str, Any]]  # quick -> load generator config
    metrics: list[tuple[str, str, bool]]  # (result key, label, higher is better)
    runner: str = "timed"  # "timed" or "idle"


def _echo(clients: int) -> Callable[[bool], dict[str, Any]]:
    def config(quick: bool) -> dict[str, Any]:
        return {
            "workload": "echo",
            "clients": clients,
            "warmup_ms": 500 if quick else 1500,
            "duration_ms": 2000 if quick else 6000,
        }

    return config


WORKLOADS: dict[str, Workload] = {
    "A": Workload(
        "A",
        "websocket round trip, 1 client, sequential echo with ack",
        lambda quick: {**_echo(1)(quick), "duration_ms": 2000 if quick else 5000},
        [
            ("msgs_per_s", "round trips/s", True),
            ("p50_ms", "p50 ms", False),
            ("p99_ms", "p99 ms", False),
            ("server_us", "server CPU us/msg", False),
            ("server_system_us", "of which kernel us/msg", False),
        ],
    ),
    "B100": Workload(
        "B100",
        "websocket, 100 clients, sequential echo",
        _echo(100),
        [
            ("msgs_per_s", "msgs/s", True),
            ("p99_ms", "p99 ms", False),
            ("server_us", "server CPU us/msg", False),
            ("server_system_us", "of which kernel us/msg", False),
        ],
    ),
    "B500": Workload(
        "B500",
        "websocket, 500 clients, sequential echo",
        _echo(500),
        [
            ("msgs_per_s", "msgs/s", True),
            ("p99_ms", "p99 ms", False),
            ("server_us", "server CPU us/msg", False),
            ("server_system_us", "of which kernel us/msg", False),
        ],
    ),
    "C": Workload(
        "C",
        "broadcast fan-out: 1,000 websocket clients, 100 broadcasts",
        lambda quick: {
            "workload": "broadcast",
            "clients": 200 if quick else 1000,
            "broadcasts": 20 if quick else 100,
            "timeout_ms": 60000,
        },
        [
            ("deliveries_per_s", "deliveries/s", True),
            ("last_delivery_ms", "last delivery ms", False),
            ("server_us", "server CPU us/delivery", False),
        ],
    ),
    "D": Workload(
        "D",
        "xhr-polling, 20 clients, sequential echo",
        lambda quick: {
            "workload": "xhr",
            "clients": 20,
            "warmup_ms": 500 if quick else 1500,
            "duration_ms": 2000 if quick else 6000,
        },
        [
            ("msgs_per_s", "msgs/s", True),
            ("p99_ms", "p99 ms", False),
            ("server_us", "server CPU us/msg", False),
            ("server_system_us", "of which kernel us/msg", False),
        ],
    ),
    "E": Workload(
        "E",
        "idle websocket connections: 5,000 held open",
        lambda quick: {"workload": "idle", "clients": 1000 if quick else 5000, "warm": 100},
        [
            ("kib_per_conn", "server KiB/conn", False),
            ("handshakes_per_s", "handshakes/s", True),
            ("server_us", "server CPU us/handshake", False),
        ],
        runner="idle",
    ),
}

ALIASES = {"B": ["B100", "B500"]}


@dataclass(frozen=True)
class Column:
    """One column of the table: a target, and the interpreter it runs on (Python targets).

    ``tag`` names the interpreter in the label (``ours@pypy``); it is empty when
    the run has a single interpreter, CPython: the labels are then those of old.
    """

    target: str
    interpreter: Optional[Interpreter] = None
    tag: str = ""

    @property
    def label(self) -> str:
        """``ours``, ``reference``, ``ours@cpython``, ``bare@pypy``."""
        return f"{self.target}@{self.tag}" if self.tag else self.target


def make_columns(targets: list[str], interpreters: list[Interpreter]) -> list[Column]:
    """The columns of ``targets``: a Python target once per interpreter, the others once."""
    tagged = [i.name for i in interpreters] != ["cpython"]
    columns = []
    for target in targets:
        if target in PYTHON_TARGETS:
            columns += [Column(target, i, i.name if tagged else "") for i in interpreters]
        else:
            columns.append(Column(target))
    return columns


def _split_label(label: str) -> tuple[str, str]:
    target, _, tag = label.partition("@")
    return target, tag


def ratio_pairs(labels: list[str]) -> list[tuple[str, str, str]]:
    """The ratios of the table: (heading, numerator label, denominator label).

    ``ours`` on each interpreter over every other target (on the same interpreter
    for a Python target: ``ours@pypy/bare@pypy``), then, for each Python target
    on both, pypy/cpython.
    """
    pairs = []
    for ours in labels:
        target, tag = _split_label(ours)
        if target != "ours":
            continue
        for other in labels:
            other_target, other_tag = _split_label(other)
            if other_target != "ours" and (not other_tag or other_tag == tag):
                pairs.append((f"{ours}/{other}", ours, other))
    for target in PYTHON_TARGETS:
        if f"{target}@pypy" in labels and f"{target}@cpython" in labels:
            pairs.append((f"{target} pypy/cpython", f"{target}@pypy", f"{target}@cpython"))
    return pairs


def with_warmup(
    config: dict[str, Any], seconds: float, connections: int = IDLE_WARMUP_CONNECTIONS
) -> dict[str, Any]:
    """``config`` with at least ``seconds`` of the workload run before it is measured.

    Echo loops (A, B, D) run unmeasured that long instead of their own 1.5 s;
    C runs whole rounds of its broadcasts, E connects and closes clients (the
    handshake and websocket path; at least ``connections`` of them), see
    ``loadgen.js``. ``seconds`` <= 0: as is.
    """
    if seconds <= 0:
        return config
    ms = int(seconds * 1000)
    config = dict(config)
    if config["workload"] in ("echo", "xhr"):
        config["warmup_ms"] = max(config.get("warmup_ms", 0), ms)
    else:
        config["warmup_ms"] = ms
    if config["workload"] == "idle":
        config["warmup_connections"] = connections
    return config


def machine_busy_seconds() -> float:
    """CPU seconds spent busy by the whole machine so far (all cores)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_quiet(max_wait: float, threshold: float = 0.3) -> tuple[float, float]:
    """Wait (at most ``max_wait`` s) until the machine is busy less than ``threshold`` cores.

    Returns:
        (seconds waited, cores busy in the last second looked at).
    """
    started = time.monotonic()
    while True:
        before = machine_busy_seconds()
        time.sleep(1.0)
        busy = machine_busy_seconds() - before
        waited = time.monotonic() - started
        if busy <= threshold or waited >= max_wait:
            return waited, busy


@dataclass
class Sample:
    """The server's CPU time (and its kernel part) and the machine's busy time at one instant."""

    t: float = field(default_factory=time.monotonic)
    server: float = 0.0
    machine: float = 0.0
    server_system: float = 0.0

    @classmethod
    def take(cls, server: ServerProcess) -> Sample:
        """The sample of ``server``'s CPU and the machine's busy time now."""
        user, system = server.cpu_split()
        return cls(time.monotonic(), user + system, machine_busy_seconds(), system)


#: the throughput that ``server_us`` divides the server's CPU by
RATE_KEYS = ("msgs_per_s", "deliveries_per_s", "handshakes_per_s")


def derive(result: dict[str, Any]) -> dict[str, Any]:
    """Add ``server_us``: the server's CPU microseconds per message (delivery, handshake).

    Unlike a rate, it hardly moves when other processes take CPU from the
    server: the measure to compare on a busy machine. ``server_system_us`` is
    its part in the kernel (system calls: the TCP stack, epoll), the floor no
    speed-up of the server's own code goes below.
    """
    server = result.get("server_cpu")
    for key in RATE_KEYS:
        rate = result.get(key)
        if server and rate:
            result["server_us"] = server * 1e6 / rate
            result["server_system_us"] = result.get("server_system_cpu", 0.0) * 1e6 / rate
            break
    return result


def _shares(start: Sample, end: Sample, client_cpu: float) -> dict[str, float]:
    wall = max(end.t - start.t, 1e-9)
    server = (end.server - start.server) / wall
    machine = (end.machine - start.machine) / wall
    return {
        "server_cpu": server,
        "server_system_cpu": (end.server_system - start.server_system) / wall,
        "client_cpu": client_cpu,
        # What else ran meanwhile, in cores (other engineers' test suites, ...).
        "other_cpu": max(0.0, machine - server - client_cpu),
    }


def run_once(
    workload: Workload,
    target: str,
    quick: bool,
    server_cpu: Optional[int] = 0,
    client_cpu: Optional[int] = 1,
    client: str = "raw",
    libraries: Optional[dict[str, Path]] = None,
    python: Optional[str] = None,
    warmup_s: float = 0.0,
    warmup_connections: int = IDLE_WARMUP_CONNECTIONS,
) -> dict[str, Any]:
    """Run ``workload`` once against a fresh ``target`` server; return its measures.

    ``client`` picks the load generator's websocket client: ``raw`` (its own
    minimal one) or ``ws`` (the ws package; not for E, which always uses ``raw``).
    ``libraries``: target (``ours``, ``base``) → a directory with the ``socketio``
    package it serves (a snapshot); a target not in it serves the work tree.
    ``python``: the interpreter of a Python target (``None``: this one).
    ``warmup_s``: seconds of the workload run first, unmeasured (:func:`with_warmup`;
    E: and at least ``warmup_connections`` connections).

    E with a warm-up (PyPy) takes two server processes: the warmed one gives
    handshakes/s and CPU per handshake, a fresh one with no warm-up gives the
    memory per connection (``kib_per_conn``, ``rss_kib``; the warmed process's
    own figure is kept as ``kib_per_conn_warmed``). The warm-up's closed
    connections leave garbage that PyPy's GC frees inside its heap, without
    giving it back to the OS; the measured connections would fill that room
    first and their RSS delta would read a fraction of what they cost
    (README, "Interpreters").
    """
    config = {**workload.config(quick), "client": client}
    library = (libraries or {}).get(target)
    run = dict(
        workload=workload,
        target=target,
        server_cpu=server_cpu,
        client_cpu=client_cpu,
        library=library,
        python=python,
    )
    warmed = with_warmup(config, warmup_s, warmup_connections)
    if workload.runner != "idle" or warmed is config:
        return _measure(config=warmed, **run)
    memory = _measure(config=config, **run)  # a fresh process, no warm-up
    result = _measure(config=warmed, **run)
    result["kib_per_conn_warmed"] = result["kib_per_conn"]
    result["rss_kib_warmed"] = result["rss_kib"]
    for key in ("kib_per_conn", "rss_kib", "rss_first_kib"):
        result[key] = memory[key]
    result["memory_run"] = {
        key: memory.get(key)
        for key in ("kib_per_conn", "rss_kib", "rss_first_kib", "handshakes_per_s", "server_us")
    }
    return result


def _measure(
    workload: Workload,
    target: str,
    config: dict[str, Any],
    server_cpu: Optional[int],
    client_cpu: Optional[int],
    library: Optional[Path],
    python: Optional[str],
) -> dict[str, Any]:
    """One fresh ``target`` server under the load generator's ``config``: its measures."""
    config = dict(config)
    with ServerProcess(target, cpu=server_cpu, library=library, python=python) as server:
        served = server.served_from()
        if library is not None and not (served or "").startswith(str(library)):
            raise BenchmarkError(f"{target} served {served!r}, not the snapshot in {library}")
        config.update(flavour=flavour(target), port=server.port)
        samples: dict[str, Any] = {}

        def on_mark(name: str, loadgen: LoadGen) -> None:
            if workload.runner == "idle":
                if name == "warm":
                    time.sleep(1.0)
                    samples["rss_warm"] = server.rss_kib()
                    samples["start"] = Sample.take(server)
                    loadgen.command("go")
                elif name == "connected":
                    samples["end"] = Sample.take(server)
                    time.sleep(2.0)
                    samples["rss_all"] = server.rss_kib()
                    loadgen.command("done")
            elif name in ("start", "end"):
                samples[name] = Sample.take(server)

        loadgen = LoadGen(config, cpu=client_cpu)
        result = loadgen.run(on_mark)
        if "start" in samples and "end" in samples:
            result.update(_shares(samples["start"], samples["end"], result.get("client_cpu", 0.0)))
        if workload.runner == "idle":
            added = config["clients"] - config["warm"]
            result["kib_per_conn"] = (samples["rss_all"] - samples["rss_warm"]) / added
            result["rss_kib"] = samples["rss_all"]
            result["rss_first_kib"] = samples["rss_warm"]
        if served:
            result["served_from"] = served
        if loadgen.warnings:
            result["warnings"] = loadgen.warnings[:5]
        return derive(result)


# -- the table -------------------------------------------------------------------------


def _fmt(value: Optional[float]) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _median(results: list[dict[str, Any]], key: str) -> Optional[float]:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def _spread(results: list[dict[str, Any]], key: str) -> str:
    """Half the range of the runs, in % of their median: how far to trust a median."""
    values = [r[key] for r in results if r.get(key) is not None]
    if len(values) < 2:
        return ""
    median = statistics.median(values)
    if not median:
        return ""
    return f" ±{50 * (max(values) - min(values)) / median:.0f}%"


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def render_table(
    results: dict[str, dict[str, list[dict[str, Any]]]],
    targets: list[str],
    runs: int,
    notes: Optional[list[str]] = None,
) -> str:
    """Medians per metric and column, and the ratios of the medians (:func:`ratio_pairs`).

    ``targets``: the column labels (``ours``, ``ours@pypy``, ...); ``notes``: lines
    printed under the first (the interpreters' versions).
    """
    pairs = ratio_pairs(targets)
    head = ["workload", "metric", *targets, *(heading for heading, _, _ in pairs)]
    rows = [head]
    for name, by_target in results.items():
        workload = WORKLOADS[name]
        for key, label, _better in workload.metrics:
            medians = {t: _median(by_target.get(t, []), key) for t in targets}
            row = [
                name,
                label,
                *(_fmt(medians[t]) + _spread(by_target.get(t, []), key) for t in targets),
            ]
            row += [_ratio(medians[a], medians[b]) for _, a, b in pairs]
            rows.append(row)
    cpu_rows = [["workload", *(f"{t} srv/cli/oth" for t in targets)]]
    for name, by_target in results.items():
        cells = []
        for t in targets:
            rs = by_target.get(t, [])
            parts = [_median(rs, k) for k in ("server_cpu", "client_cpu", "other_cpu")]
            cells.append("/".join("-" if p is None else f"{p * 100:.0f}%" for p in parts))
        cpu_rows.append([name, *cells])
    out = [
        f"Medians of {runs} run(s) (± half their range, in % of the median);"
        " ratios are ours/other of the medians (for ms and KiB lower is better)."
    ]
    out += notes or []
    out.append(_grid(rows))
    out.append("")
    out.append(
        "CPU during the measuring window (median): server / load generator / everything else,"
        " in % of one core"
    )
    out.append(_grid(cpu_rows))
    return "\n".join(out)


def _grid(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths))  # py39: no strict=
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine_description() -> dict[str, Any]:
    """The machine the figures come from: CPU model, cores, kernel, Python."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import gevent
    import geventwebsocket

    node_version = subprocess.run([node(), "--version"], capture_output=True, text=True).stdout
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "loadavg": os.getloadavg(),
        "python": platform.python_version(),
        "gevent": gevent.__version__,
        "gevent-websocket": getattr(geventwebsocket, "__version__", "?"),
        "node": node_version.strip(),
    }


def _warmed(result: dict[str, Any]) -> str:
    """What a long warm-up ran first, for the progress line ("" when none)."""
    if result.get("warmup_connections"):
        memory = result.get("memory_run")
        return f"; warmed with {result['warmup_connections']:,} connections" + (
            f"; KiB/conn from a fresh process, no warm-up ({result['kib_per_conn_warmed']:.1f}"
            " in the warmed one)"
            if memory
            else ""
        )
    if result.get("warmup_rounds"):
        return f"; warmed with {result['warmup_rounds']} rounds"
    return ""


def parse_workloads(text: str) -> list[str]:
    """The workload names of ``text`` (comma-separated names or aliases), in order."""
    names: list[str] = []
    for part in text.split(","):
        part = part.strip().upper()
        if not part:
            continue
        for name in ALIASES.get(part, [part]):
            if name not in WORKLOADS:
                raise SystemExit(f"unknown workload {part!r}; choose from A,B,B100,B500,C,D,E")
            if name not in names:
                names.append(name)
    return names


def main(argv: Optional[list[str]] = None) -> int:
    """Run the workloads against the targets and print (or save) the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short smoke run (about 2 minutes)")
    parser.add_argument("--workloads", default="A,B,C,D,E", help="comma-separated (default all)")
    parser.add_argument("--runs", type=int, default=None, help="runs per workload (3; quick: 1)")
    parser.add_argument(
        "--targets",
        default="ours,reference,bare",
        help="ours,reference,bare (base is added by --base-rev)",
    )
    parser.add_argument("--server-cpu", type=int, default=0, help="core for the server (0)")
    parser.add_argument("--client-cpu", type=int, default=1, help="core for the load generator")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument(
        "--client",
        choices=["raw", "ws"],
        default="raw",
        help="websocket client of the load generator: its own minimal one (raw, default)"
        " or the ws package (to cross-check)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each measurement wait up to SECONDS for the machine to be idle"
        " (busy < 0.3 cores): other processes skew the numbers",
    )
    parser.add_argument(
        "--ours-rev",
        metavar="REV",
        help="serve socketio/ as of this git revision (a snapshot) instead of the work tree,"
        " which others may be editing meanwhile",
    )
    parser.add_argument(
        "--base-rev",
        metavar="REV",
        help="also serve socketio/ as of this git revision as the target 'base' (ratios"
        " ours/base: a change against its predecessor, measured in the same run)",
    )
    parser.add_argument(
        "--idle-clients",
        type=int,
        metavar="N",
        help="connections E holds open (default 5,000; quick: 1,000)",
    )
    parser.add_argument(
        "--interpreters",
        default="cpython",
        help="comma-separated: the Python interpreters ours, bare and base run on, one column"
        " each (cpython, pypy; default cpython)",
    )
    for name in INTERPRETERS:
        parser.add_argument(
            f"--{name}",
            metavar="PATH",
            help=f"the {name} interpreter (default: "
            + ("this one" if name == "cpython" else ".venv-pypy/bin/python")
            + ")",
        )
    parser.add_argument(
        "--jit-warmup",
        type=float,
        default=JIT_WARMUP,
        metavar="SECONDS",
        help=f"on a JIT interpreter (PyPy), run each workload this long before measuring it,"
        f" in each fresh server process (default {JIT_WARMUP:g}; CPython and node keep the"
        " workload's own 1.5 s)",
    )
    parser.add_argument(
        "--jit-warmup-connections",
        type=int,
        default=IDLE_WARMUP_CONNECTIONS,
        metavar="N",
        help="E on a JIT interpreter: connect and close at least N clients first, however"
        f" long it takes (default {IDLE_WARMUP_CONNECTIONS:,})",
    )
    parser.add_argument("--json", help="also write every run's measures to this file")
    args = parser.parse_args(argv)

    names = parse_workloads(args.workloads)
    if args.idle_clients:
        WORKLOADS["E"] = dataclasses.replace(
            WORKLOADS["E"],
            title=f"idle websocket connections: {args.idle_clients:,} held open",
            config=lambda quick: {"workload": "idle", "clients": args.idle_clients, "warm": 100},
        )
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if args.base_rev and "base" not in targets:
        targets.append("base")
    for t in targets:
        if t not in TARGETS:
            raise SystemExit(f"unknown target {t!r}; choose from {','.join(TARGETS)}")
    runs = args.runs or (1 if args.quick else 3)
    server_cpu = None if args.no_pin else args.server_cpu
    client_cpu = None if args.no_pin else args.client_cpu
    interpreter_names = [i.strip().lower() for i in args.interpreters.split(",") if i.strip()]
    for i in interpreter_names:
        if i not in INTERPRETERS:
            raise SystemExit(f"unknown interpreter {i!r}; choose from {','.join(INTERPRETERS)}")
    interpreters: list[Interpreter] = []
    if any(t in PYTHON_TARGETS for t in targets):
        try:
            interpreters = [probe_interpreter(i, getattr(args, i)) for i in interpreter_names]
        except BenchmarkError as exc:
            raise SystemExit(f"benchmarks: {exc}") from None
    columns = make_columns(targets, interpreters)
    labels = [c.label for c in columns]

    ensure_node_modules()
    nofile = raise_nofile()
    info = machine_description()
    info["nofile"] = nofile
    info["interpreters"] = {i.name: dataclasses.asdict(i) for i in interpreters}
    info["jit_warmup"] = args.jit_warmup
    libraries: dict[str, Path] = {}
    if args.ours_rev:
        libraries["ours"] = Path(tempfile.mkdtemp(prefix="bench-socketio-"))
        info["ours"] = library_snapshot(args.ours_rev, libraries["ours"])
    else:
        # Each interpreter imports its install of socketio: say which copy.
        imported = sorted({os.path.dirname(i.socketio) for i in interpreters})
        info["ours"] = work_tree_version() + " (work tree"
        info["ours"] += (": " + ", ".join(imported) + ")") if imported else ")"
    notes = []
    if interpreters:
        jit = [i.name for i in interpreters if i.jit]
        notes.append(
            "Interpreters: "
            + "; ".join(i.describe() for i in interpreters)
            + (
                f". JIT warm-up: {args.jit_warmup:g} s of the workload before each measurement"
                f" on {', '.join(jit)}"
                if jit
                else ""
            )
        )
    if "base" in targets:
        if not args.base_rev:
            raise SystemExit("target 'base' needs --base-rev REV")
        libraries["base"] = Path(tempfile.mkdtemp(prefix="bench-socketio-base-"))
        info["base"] = library_snapshot(args.base_rev, libraries["base"])
    print(
        f"{info['date']}  {info['cpus']} x {info['cpu_model']}  load {info['loadavg'][0]:.2f}"
        f"  harness python {info['python']} node {info['node']}"
        f"  (server on core {server_cpu}, load generator on core {client_cpu},"
        f" {args.client} websocket client)\n"
        + "".join(n + "\n" for n in notes)
        + f"ours: socketio at {info['ours']}"
        + (f"; base: socketio at {info['base']}" if "base" in info else ""),
        flush=True,
    )
    width = max(9, *(len(label) for label in labels))
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    started = time.monotonic()
    for name in names:
        workload = WORKLOADS[name]
        results[name] = {label: [] for label in labels}
        for run in range(runs):
            order = columns[run % len(columns) :] + columns[: run % len(columns)]
            for column in order:
                label = column.label
                if args.wait_quiet > 0:
                    waited, busy = wait_quiet(args.wait_quiet)
                    if busy > 0.3:
                        print(f"  (machine still busy: {busy:.1f} cores after {waited:.0f} s)")
                interpreter = column.interpreter
                try:
                    result = run_once(
                        workload,
                        column.target,
                        args.quick,
                        server_cpu,
                        client_cpu,
                        args.client,
                        libraries,
                        python=interpreter.path if interpreter else None,
                        warmup_s=args.jit_warmup if interpreter and interpreter.jit else 0.0,
                        warmup_connections=args.jit_warmup_connections,
                    )
                except BenchmarkError as exc:
                    print(f"  {name} {label} run {run + 1}: FAILED {exc}", flush=True)
                    continue
                results[name][label].append(result)
                shown = ", ".join(
                    f"{label} {_fmt(result.get(key))}" for key, label, _ in workload.metrics
                )
                cpu = result.get("client_cpu")
                warmed = _warmed(result)
                print(
                    f"  {name:4} {label:{width}} run {run + 1}: {shown}"
                    f"  (load generator {cpu * 100:.0f}% of a core{warmed})"
                    + (" WARNING: load generator near saturation" if cpu and cpu > 0.85 else ""),
                    flush=True,
                )
    print()
    print(render_table(results, labels, runs, notes))
    print(f"\n{time.monotonic() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}")
    for library in libraries.values():
        shutil.rmtree(library, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "runs": runs, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
