"""What every attack benchmark needs: the server under attack, a good client, a table row.

:class:`AttackServer` runs :mod:`benchmarks.attacks.app` in a process of its
own and reads its memory, open files and log. :class:`Prober` is the
well-behaved client next to the attacker: a websocket session (the tests'
wire client, :class:`tests.client09.raw.PlainWebSocket`) that sends an
``echo`` event with an ack every 20 ms and records each round trip, so a
benchmark can quote another client's latency during an attack against the
same client's latency without it, measured in the same run. :func:`row`
builds a line of the table ``python -m benchmarks.attacks`` prints.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Optional

from benchmarks.harness import PYPY_NURSERY
from tests.client09.raw import PlainWebSocket

ROOT = Path(__file__).resolve().parents[2]
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AttackServer:
    """The echo server (:mod:`benchmarks.attacks.app`) in a subprocess, on a free port.

    Args:
        nofile: the open-files limit the server runs with (``None``: inherited).
        **config: keyword arguments for ``SocketIOServer`` (settings such as
            ``max_connections=100`` or ``manager='redis://...'``).
    """

    def __init__(self, nofile: Optional[int] = None, **config: Any) -> None:
        self.port = free_port()
        self.nofile = nofile
        self.config = config
        self.proc: Optional[subprocess.Popen] = None
        self._log = tempfile.NamedTemporaryFile(prefix="attack-server-", suffix=".log")

    @property
    def pid(self) -> int:
        """The server process's id."""
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> AttackServer:
        """Start the server and wait until it answers HTTP; return self."""
        args = [
            sys.executable,
            "-m",
            "benchmarks.attacks.app",
            "--port",
            str(self.port),
            "--config",
            json.dumps(self.config),
        ]
        if self.nofile:
            args += ["--nofile", str(self.nofile)]
        env = {**os.environ}
        env.setdefault("PYPY_GC_NURSERY", PYPY_NURSERY)
        self.proc = subprocess.Popen(
            args, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"attack server exited:\n{self.log_text()}")
            try:
                url = f"http://127.0.0.1:{self.port}/socket.io/"
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"attack server did not start:\n{self.log_text()}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s) and close its log."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> AttackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what it holds ------------------------------------------------------

    def rss_mib(self) -> float:
        """The server's resident memory, in MiB."""
        with open(f"/proc/{self.pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_BYTES / 2**20

    def open_files(self) -> int:
        """File descriptors the server has open."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu_seconds(self) -> float:
        """User and system CPU time the server has used."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_size(self) -> int:
        """Bytes the server has written to its log so far."""
        return os.path.getsize(self._log.name)

    def log_text(self, since: int = 0) -> str:
        """The server's log (stdout and stderr), from byte ``since``."""
        with open(self._log.name, "rb") as f:
            f.seek(since)
            return f.read().decode("utf-8", "replace")

    def handshake(self, timeout: float = 10.0) -> tuple[Optional[str], float]:
        """One handshake: ``(session id or None, seconds it took)``."""
        started = time.monotonic()
        try:
            url = f"http://127.0.0.1:{self.port}/socket.io/1/"
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                sid = resp.read().decode().split(":")[0]
        except OSError:
            sid = None
        return sid, time.monotonic() - started


class Prober:
    """A good client next to the attacker: an echo with ack every ``interval`` seconds.

    Use it as a context manager around the attack; afterwards
    :meth:`summary` tells how its round trips went. A round trip not
    answered within ``timeout`` seconds counts as a timeout, and the client
    connects again.
    """

    def __init__(self, port: int, interval: float = 0.02, timeout: float = 5.0) -> None:
        self.port = port
        self.interval = interval
        self.timeout = timeout
        self.latencies: list[float] = []
        self.timeouts = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout + 5)

    def _run(self) -> None:
        client: Optional[PlainWebSocket] = None
        n = 0
        while not self._stop.is_set():
            try:
                if client is None:
                    client = PlainWebSocket(self.port, self.timeout)
                n += 1
                started = time.monotonic()
                client.send(f'5:{n}+::{{"name":"echo","args":[{n}]}}')
                while not client.recv().startswith(f"6:::{n}+"):
                    pass
                self.latencies.append(time.monotonic() - started)
            except TimeoutError:
                self.timeouts += 1
                client = self._drop(client)
            except (OSError, ValueError):
                self.errors += 1
                client = self._drop(client)
                self._stop.wait(0.1)
            self._stop.wait(self.interval)
        self._drop(client)

    @staticmethod
    def _drop(client: Optional[PlainWebSocket]) -> None:
        if client is not None:
            client.close()

    def summary(self) -> dict[str, Any]:
        """``count``, ``p50_ms``, ``p99_ms``, ``max_ms`` of the round trips, ``timeouts``, ``errors``."""
        values = sorted(self.latencies)
        if not values:
            return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None,
                    "timeouts": self.timeouts, "errors": self.errors}  # fmt: skip
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        return {
            "count": len(values),
            "p50_ms": statistics.median(values) * 1000,
            "p99_ms": p99 * 1000,
            "max_ms": values[-1] * 1000,
            "timeouts": self.timeouts,
            "errors": self.errors,
        }


def latency_text(summary: dict[str, Any]) -> str:
    """A prober summary in a table cell: ``p50 / p99 ms (n, timeouts)``."""
    if not summary["count"]:
        return f"no answer ({summary['timeouts']} timeouts, {summary['errors']} errors)"
    text = f"{summary['p50_ms']:.1f} / {summary['p99_ms']:.1f} ms"
    lost = summary["timeouts"] + summary["errors"]
    return text + (f" ({lost} lost)" if lost else "")


def row(attack: str, measure: str, attacked: Any, baseline: Any, limit: Any = "") -> dict[str, str]:
    """One line of the table: what was done, what was measured, with and without the attack."""
    return {
        "attack": attack,
        "measure": measure,
        "attacked": str(attacked),
        "baseline": str(baseline),
        "limit": str(limit),
    }
