"""Fixtures that run the test application in a real server process."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "tests" / "js" / "node_modules"

#: Debian's Chromium (``./run`` installs it); ``$CHROMIUM`` may name another one.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: Headless flags that keep Chromium off the (closed) network and quiet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def default_sigint() -> None:
    """``preexec_fn`` of the server processes: SIGINT back to its default.

    A shell starts a background job with SIGINT ignored, and a child
    inherits that: its Python would then never raise ``KeyboardInterrupt``,
    and the tests that stop a server as Ctrl-C does would wait in vain.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``tests/integration/server_app.py`` in a subprocess, on a free port.

    Attributes:
        url: ``http://127.0.0.1:<port>``.
        port: the port.
    """

    #: the module run with ``python -m`` (a subclass may serve another application)
    module = "tests.integration.server_app"

    def __init__(self, **options: object) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.options = options
        self.proc: subprocess.Popen | None = None
        # (the pid: two suites side by side, CI's, may hand out the same port in turn)
        self.log_path = ROOT / ".pytest_cache" / f"server-{os.getpid()}-{self.port}.log"

    def start(self) -> LiveServer:
        args = [sys.executable, "-m", self.module, "--port", str(self.port)]
        for key, value in self.options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        self.log_path.parent.mkdir(exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=default_sigint,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"test server exited: see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/socket.io/", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"test server did not start: see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()

    def restart(self) -> None:
        """Stop and start again on the same port (sessions are lost)."""
        self.stop()
        self.start()

    def get_json(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=5) as resp:
            return json.loads(resp.read())

    def events(self) -> list[list]:
        """The hooks that ran: ``[kind, namespace, sessid, detail]``."""
        return self.get_json("/_events")

    def sockets(self) -> list[str]:
        """Session ids currently in ``server.sockets``."""
        return self.get_json("/_sockets")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def live_server():
    """A test server shared by the tests of one module (default timers)."""
    server = LiveServer().start()
    yield server
    server.stop()


@pytest.fixture
def make_server():
    """A factory of test servers with options (``heartbeat_interval=0.5``...); stopped after the test."""
    servers: list[LiveServer] = []

    def make(**options: object) -> LiveServer:
        server = LiveServer(**options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def node_modules() -> pathlib.Path:
    """``tests/js/node_modules`` with socket.io-client 0.9.16 (installed by ./run)."""
    client = NODE_MODULES / "socket.io-client" / "package.json"
    if not client.exists():
        pytest.fail(
            "socket.io-client is not installed: run `./run test` (it runs npm ci in tests/js)"
        )
    version = json.loads(client.read_text())["version"]
    assert version == "0.9.16", version
    return NODE_MODULES


os.environ.setdefault("NODE_PATH", str(NODE_MODULES))


# -- the node scenarios of tests/js/scenarios.js (test_node_client and others) --

SCENARIO_TIMEOUT = 20.0  # seconds; each step inside has a 5 s timeout of its own

Runner = Callable[..., dict]


def node_executable() -> str:
    """The ``node`` on PATH (the test fails with the fix when there is none)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node.js (./run test does it)", pytrace=False)
    return node


def scenario_report(
    stdout: str, stderr: str, returncode: int | None, name: str, transport: str
) -> dict:
    """The JSON report a node scenario printed last (the test fails with its log if it failed)."""
    # split on "\n" only: the JSON holds raw U+2028, which str.splitlines() splits on
    lines = [line for line in stdout.split("\n") if line.strip()]
    if not lines:
        pytest.fail(
            f"node scenario {name} ({transport}) printed nothing (exit {returncode}):\n{stderr}",
            pytrace=False,
        )
    out = json.loads(lines[-1])
    if not out["ok"]:
        log = "\n".join(f"  {e['c']}: {e['e']} {json.dumps(e['a'])[:200]}" for e in out["log"])
        wire = "\n".join(f"  {d} {text[:200]!r}" for d, text in out["wire"][-25:])
        pytest.fail(
            f"scenario {name} over {transport} failed at step {out['step']!r}:\n{out['error']}\n"
            f"client events:\n{log}\nlast packets:\n{wire}\nnode stderr:\n{stderr}",
            pytrace=False,
        )
    return out


@pytest.fixture
def scenario(node_modules: pathlib.Path) -> Runner:
    """``scenario(server, name, transport)``: run a scenario, return its report."""
    node = node_executable()
    script = node_modules.parent / "scenarios.js"

    def run(server: Any, name: str, transport: str) -> dict:
        args = [node, str(script), name, server.url, transport, str(int(SCENARIO_TIMEOUT * 1000))]
        try:
            proc = subprocess.run(
                args,
                capture_output=True,
                text=True,
                encoding="utf-8",
                cwd=script.parent,
                timeout=SCENARIO_TIMEOUT + 10,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"node scenario {name} ({transport}) did not exit: {exc}", pytrace=False)
        return scenario_report(proc.stdout, proc.stderr, proc.returncode, name, transport)

    return run
