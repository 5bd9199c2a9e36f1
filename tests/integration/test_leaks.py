"""After many connect / emit / disconnect cycles nothing of ours is left.

Runs the soak script (``benchmarks/soak.py``) briefly, in its own process so
that its monkey patching and greenlet count do not mix with the test runner's.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_no_sockets_or_greenlets_left_after_cycles_on_every_transport():
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "soak.py"),
            "--cycles",
            "150",
            "--transports",
            "websocket,xhr-polling,jsonp-polling",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["cycles"] == 150
    assert result["sockets_left"] == 0
    assert result["farewells_kept"] == 0  # clients that left are not waited for
    assert result["greenlets_left"] == 0, result["greenlets_left_at"]
