"""Keep the benchmark suite from rotting: its load generator against our server, briefly.

The suite itself (``python -m benchmarks``) is never run by the tests; this
runs one tiny echo workload through the same code path (``benchmarks.suite.run_once``:
server process, node load generator, CPU sampling) in a few seconds, in a
child process: the tests do not import the benchmarks (they import the tests'
wire client, not the reverse). A second test runs the suite's command line with
the interpreter axis (ours on CPython and on PyPy, from a snapshot) on a tiny
workload; it needs the PyPy venv ``.venv-pypy`` and is skipped without it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[2]

#: run from the repository root: one tiny workload, its result and table as JSON
TINY_RUN = """
import json
from benchmarks import harness, suite

harness.ensure_node_modules(quiet=True)
tiny = suite.Workload(
    "tiny",
    "websocket, 2 clients, sequential echo for one second",
    lambda quick: {"workload": "echo", "clients": 2, "warmup_ms": 200, "duration_ms": 1000},
    [("msgs_per_s", "msgs/s", True), ("p99_ms", "p99 ms", False)],
)
result = suite.run_once(tiny, "ours", quick=True, server_cpu=None, client_cpu=None)
table = suite.render_table({"A": {"ours": [result]}}, ["ours"], 1)
print(json.dumps({"result": result, "table": table}))
"""


def test_load_generator_echo_against_our_server() -> None:
    proc = _run_harness(TINY_RUN, needs_pypy=False)
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    result = answer["result"]

    assert result["connect_errors"] == 0
    assert result["messages"] > 20, result
    assert result["msgs_per_s"] > 0
    assert 0 < result["p50_ms"] <= result["p99_ms"]
    assert 0 < result["server_cpu"]
    assert 0 < result["client_cpu"]
    assert "warnings" not in result, result["warnings"]
    assert "round trips/s" in answer["table"]


#: run from the repository root: the suite's command line with the interpreter axis, on a
#: tiny workload in place of A; argv[1] is where --json writes the runs
AXIS_RUN = """
import dataclasses, sys
from benchmarks import harness, suite

harness.ensure_node_modules(quiet=True)
suite.WORKLOADS["A"] = dataclasses.replace(
    suite.WORKLOADS["A"],
    config=lambda quick: {"workload": "echo", "clients": 2, "warmup_ms": 100, "duration_ms": 500},
)
sys.exit(suite.main([
    "--quick", "--workloads", "A", "--targets", "ours", "--interpreters", "cpython,pypy",
    "--jit-warmup", "0.3", "--ours-rev", "HEAD", "--no-pin", "--json", sys.argv[1],
]))
"""


PYPY = ROOT / ".venv-pypy" / "bin" / "python"


def _run_harness(script: str, *args: str, needs_pypy: bool = True) -> subprocess.CompletedProcess:
    """Run ``script`` (a harness snippet) from the repository root; it must succeed.

    Needs node and, if ``needs_pypy``, the PyPy venv ``./run`` sets up in
    ``.venv-pypy`` (skipped without it).
    """
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: install Node.js (./run test does it)", pytrace=False)
    if needs_pypy and not PYPY.exists():
        pytest.skip("no PyPy venv in .venv-pypy (./run sets it up)")
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_interpreter_axis_runs_ours_on_cpython_and_pypy(tmp_path: Path) -> None:
    """``--interpreters cpython,pypy``: a column per interpreter, each serving the snapshot.

    Needs the PyPy venv ``./run`` sets up in ``.venv-pypy`` (skipped without it).
    """
    out = tmp_path / "runs.json"
    proc = _run_harness(AXIS_RUN, str(out))
    answer = json.loads(out.read_text())
    interpreters = answer["machine"]["interpreters"]
    assert interpreters["cpython"]["implementation"] == "CPython"
    assert interpreters["pypy"]["implementation"] == "PyPy"
    runs = answer["results"]["A"]
    assert sorted(runs) == ["ours@cpython", "ours@pypy"], proc.stdout
    for label, (result,) in runs.items():
        assert result["messages"] > 5, (label, result)
        assert result["served_from"].startswith("/"), result
        assert "bench-socketio-" in result["served_from"], result  # the snapshot, not the tree
    assert "PyPy 7." in proc.stdout
    assert "ours pypy/cpython" in proc.stdout


#: run from the repository root: a tiny E (150 clients held, 100 of them before the RSS
#: read) on PyPy with a short warm-up; prints the result as JSON
IDLE_PYPY_RUN = """
import dataclasses, json, sys
from benchmarks import harness, suite

harness.ensure_node_modules(quiet=True)
harness.raise_nofile()
tiny = dataclasses.replace(
    suite.WORKLOADS["E"], config=lambda quick: {"workload": "idle", "clients": 150, "warm": 100}
)
result = suite.run_once(
    tiny, "ours", quick=True, server_cpu=None, client_cpu=None, python=sys.argv[1],
    warmup_s=0.2, warmup_connections=200,
)
print(json.dumps(result))
"""


def test_idle_on_pypy_measures_memory_in_a_fresh_process() -> None:
    """E warmed on PyPy: handshakes from the warmed process, KiB/conn from a fresh one.

    The warm-up's garbage stays inside PyPy's heap: the memory per connection
    comes from a second server process that had no warm-up (README, "Interpreters").
    """
    proc = _run_harness(IDLE_PYPY_RUN, str(PYPY))
    result = json.loads(proc.stdout.strip().splitlines()[-1])

    assert result["warmup_connections"] >= 200, result
    assert result["connect_errors"] == 0, result
    assert result["handshakes_per_s"] > 0
    memory = result["memory_run"]  # the fresh process's own measures
    assert result["kib_per_conn"] == memory["kib_per_conn"]
    assert result["rss_kib"] == memory["rss_kib"]
    assert "kib_per_conn_warmed" in result
    assert memory["handshakes_per_s"] > 0


#: run from the repository root: benchmarks.parked, as small as it goes
PARKED_RUN = """
import sys
from benchmarks import harness, parked

harness.ensure_node_modules(quiet=True)
sys.exit(parked.main(["--runs", "1", "--clients", "150", "--warm-seconds", "0.5", "--pypy", sys.argv[1]]))
"""


def test_parked_measures_a_warm_server_as_shipped_and_traced() -> None:
    """``benchmarks.parked``: one row per mode, the live heap each idle websocket added."""
    proc = _run_harness(PARKED_RUN, str(PYPY))
    rows = [line.split("|")[1:-1] for line in proc.stdout.splitlines() if line.startswith("| 1 |")]
    assert [row[1].strip() for row in rows] == ["as shipped", "parked path traced"], proc.stdout
    for row in rows:
        assert float(row[2]) > 0, proc.stdout  # KB per connection
        assert float(row[3].replace(",", "")) > 0, proc.stdout  # the warm-up's echoes
