"""Processes of a benchmark: the server under test and the node load generator.

:class:`ServerProcess` starts one of the three servers (``ours``, ``reference``,
``bare``) on a free port, pinned to one core, and reads its CPU time and RSS
from ``/proc``. :class:`LoadGen` runs ``loadgen.js`` pinned to the other core,
hands each ``mark`` line it prints to a callback (the harness samples the
server there) and returns its result. :func:`probe_interpreter` checks a Python
interpreter (CPython, PyPy) that is to serve ``ours_app.py`` and ``bare_app.py``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from socketio.runtime import RECOMMENDED_NURSERY

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
NODE_MODULES = BENCH_DIR / "node_modules"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

#: The servers compared, in table order. ``base`` is this library at another git
#: revision (``--base-rev``), to measure a change against its predecessor in one run.
TARGETS = ("ours", "reference", "bare", "base")
#: The targets served by ``ours_app.py`` (this library, at some revision).
OURS_TARGETS = frozenset({"ours", "base"})


#: The interpreters the Python targets can run on: name on the command line ->
#: ``platform.python_implementation()`` of that interpreter.
INTERPRETERS = {"cpython": "CPython", "pypy": "PyPy"}


class BenchmarkError(RuntimeError):
    """A server or the load generator failed."""


@dataclass(frozen=True)
class Interpreter:
    """A Python interpreter that serves the Python targets (``ours``, ``base``, ``bare``).

    Every field but ``name`` and ``path`` is read from the interpreter itself
    (:func:`probe_interpreter`).
    """

    name: str  # "cpython" or "pypy": the column suffix (ours@pypy)
    path: str  # the executable (a venv's bin/python: not resolved, the venv needs its path)
    implementation: str  # platform.python_implementation(): CPython, PyPy
    python: str  # platform.python_version(): the language version
    implementation_version: str  # PyPy's own version (7.3.11); the same as python on CPython
    gevent: str
    geventwebsocket: str
    socketio: str  # the socketio/__init__.py it imports without a snapshot ("" if none)

    @property
    def jit(self) -> bool:
        """Whether it has a tracing JIT that needs warming before it is measured (PyPy)."""
        return self.implementation == "PyPy"

    @property
    def version(self) -> str:
        """``CPython 3.11.2``, ``PyPy 7.3.11 (Python 3.9.16)``."""
        if self.implementation_version == self.python:
            return f"{self.implementation} {self.python}"
        return f"{self.implementation} {self.implementation_version} (Python {self.python})"

    def describe(self) -> str:
        """One line for the table's header: version, gevent and where it is."""
        return f"{self.name} = {self.version} (gevent {self.gevent}, {self.path})"


#: run by each interpreter to describe itself: one JSON line
_PROBE = """
import json, platform, sys
info = {"implementation": platform.python_implementation(), "python": platform.python_version()}
pypy = getattr(sys, "pypy_version_info", None)
info["implementation_version"] = "%d.%d.%d" % tuple(pypy[:3]) if pypy else info["python"]
try:
    import gevent, geventwebsocket
    info["gevent"] = gevent.__version__
    info["geventwebsocket"] = getattr(geventwebsocket, "__version__", "?")
except Exception as exc:
    info["error"] = "%s: %s" % (type(exc).__name__, exc)
try:
    import socketio
    info["socketio"] = socketio.__file__
except Exception as exc:
    info["socketio"] = ""
print(json.dumps(info))
"""


def default_interpreter_path(name: str) -> str:
    """Where the ``name`` interpreter is unless given: ``cpython`` this one, ``pypy`` .venv-pypy.

    ``cpython`` is ``sys.executable`` when the harness runs on CPython, else
    ``.venv/bin/python`` (the harness may itself run on PyPy).
    """
    if name == "pypy":
        return str(ROOT / ".venv-pypy" / "bin" / "python")
    if name == "cpython":
        if platform.python_implementation() == "CPython":
            return sys.executable
        return str(ROOT / ".venv" / "bin" / "python")
    raise ValueError(f"unknown interpreter {name!r}; choose from {','.join(INTERPRETERS)}")


def probe_interpreter(name: str, path: Optional[str] = None) -> Interpreter:
    """Check that ``path`` is a ``name`` interpreter with gevent; describe it.

    Raises:
        BenchmarkError: it is missing, is another implementation, or cannot import
            gevent and gevent-websocket.
    """
    if name not in INTERPRETERS:
        raise BenchmarkError(f"unknown interpreter {name!r}; choose from {','.join(INTERPRETERS)}")
    path = path or default_interpreter_path(name)
    hint = f" ({'./run sets up .venv-pypy; or ' if name == 'pypy' else ''}pass --{name} PATH)"
    if not os.path.exists(path) or not os.access(path, os.X_OK):
        raise BenchmarkError(f"no {name} interpreter at {path}{hint}")
    try:
        # From benchmarks/, as the servers run: socketio comes from PYTHONPATH or the install.
        proc = subprocess.run(
            [path, "-c", _PROBE], cwd=BENCH_DIR, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchmarkError(f"the {name} interpreter {path} does not run: {exc}") from exc
    try:
        info = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchmarkError(
            f"the {name} interpreter {path} does not run: {proc.stderr.strip()[-500:]}"
        ) from None
    if info["implementation"] != INTERPRETERS[name]:
        raise BenchmarkError(
            f"{path} is {info['implementation']} {info['python']}, not {INTERPRETERS[name]}{hint}"
        )
    if "error" in info:
        raise BenchmarkError(
            f"the {name} interpreter {path} cannot import gevent and gevent-websocket"
            f" ({info['error']}): {path} -m pip install gevent gevent-websocket"
        )
    return Interpreter(name=name, path=path, **info)


def node() -> str:
    """The path of ``node``; :class:`BenchmarkError` when it is not installed."""
    found = shutil.which("node")
    if not found:
        raise BenchmarkError("node is not installed (apt-get install nodejs npm)")
    return found


def ensure_node_modules(quiet: bool = False) -> None:
    """Install ``ws`` and ``socket.io@0.9.19`` into ``benchmarks/node_modules`` (``npm ci``)."""
    wanted = [NODE_MODULES / "ws" / "package.json", NODE_MODULES / "socket.io" / "package.json"]
    if all(p.exists() for p in wanted):
        return
    npm = shutil.which("npm")
    if not npm:
        raise BenchmarkError("npm is not installed (apt-get install nodejs npm)")
    if not quiet:
        print("benchmarks: npm ci (ws, socket.io@0.9.19) ...", file=sys.stderr, flush=True)
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=BENCH_DIR,
        check=True,
        stdout=subprocess.DEVNULL,
    )


#: PyPy's nursery for its servers unless ``PYPY_GC_NURSERY`` is set: PyPy sizes
#: it from the cache size ``/proc/cpuinfo`` reports, 1 MB on one machine here
#: and 240 MB on another (see ``benchmarks/LOG.md``, "PyPy's nursery"), and
#: its rates moved by 1.8x with it; a fixed size makes runs comparable
PYPY_NURSERY = RECOMMENDED_NURSERY


def raise_nofile(wanted: int = 65536) -> int:
    """Raise the soft open-files limit (inherited by the servers and clients); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def taskset_prefix(cpu: Optional[int]) -> list[str]:
    """The ``taskset`` command prefix that pins a process to ``cpu`` (empty when not pinned)."""
    if cpu is None or not shutil.which("taskset"):
        return []
    return ["taskset", "-c", str(cpu)]


def proc_cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU time of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_rss_kib(pid: int) -> int:
    """The resident memory of a process, in KiB."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE_KIB


class ServerProcess:
    """One server under test, in its own process.

    Args:
        target: ``ours``, ``reference``, ``bare`` or ``base``.
        cpu: the core to pin it to (``None``: not pinned).
        extra_args: more arguments for the server's command line.
        library: a directory holding the ``socketio`` package to serve.
        python: the interpreter of the Python targets (``None``: this one); not
            used by ``reference``.
    """

    def __init__(
        self,
        target: str,
        cpu: Optional[int] = 0,
        extra_args: tuple = (),
        library: Optional[Path] = None,
        python: Optional[str] = None,
    ) -> None:
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}")
        self.target = target
        self.cpu = cpu
        #: a directory holding the ``socketio`` package to serve (see :func:`library_snapshot`);
        #: ``None``: the one installed (this work tree)
        self.library = library
        self.python = python or sys.executable
        self.port = free_port()
        self.extra_args = list(extra_args)
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{target}-{self.port}.log"

    def command(self) -> list[str]:
        """The command line that starts this target's server on its port."""
        if self.target == "reference":
            cmd = [node(), str(BENCH_DIR / "reference_server.js"), str(self.port)]
        else:
            # Run as a script, not with -m from the repository root: then sys.path[0]
            # is benchmarks/, and `socketio` comes from PYTHONPATH (a snapshot) or the install.
            script = "ours_app.py" if self.target in OURS_TARGETS else "bare_app.py"
            cmd = [self.python, str(BENCH_DIR / script), str(self.port)]
        return taskset_prefix(self.cpu) + cmd + self.extra_args

    @property
    def pid(self) -> int:
        """The server process's id."""
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 20.0) -> ServerProcess:
        """Start the server and wait until it accepts connections; return self."""
        self._log = open(self.log_path, "wb")
        env = dict(os.environ)
        env.setdefault("PYPY_GC_NURSERY", PYPY_NURSERY)
        if self.library is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(self.library), os.environ.get("PYTHONPATH")) if p
            )
        self.proc = subprocess.Popen(
            self.command(), cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )
        path = "/poll/__ready__" if self.target == "bare" else "/socket.io/"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchmarkError(f"{self.target} server exited: {self.log()[-2000:]}")
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=b"")
                with urllib.request.urlopen(req, timeout=1):
                    return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BenchmarkError(f"{self.target} server did not start: {self.log()[-2000:]}")

    def served_from(self) -> Optional[str]:
        """For ``ours``: the ``socketio/__init__.py`` the server imported (from its log)."""
        for line in self.log().splitlines():
            if line.startswith("serving "):
                return line[len("serving ") :]
        return None

    def cpu_split(self) -> tuple[float, float]:
        """User and kernel (system calls, TCP) CPU seconds, read at one instant."""
        return proc_cpu_split(self.pid)

    def rss_kib(self) -> int:
        """The server's resident memory, in KiB."""
        return proc_rss_kib(self.pid)

    def log(self) -> str:
        """What the server has written to its log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s) and close its log."""
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
            self._log = None

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        try:
            self.log_path.unlink()
        except OSError:
            pass


class LoadGen:
    """``loadgen.js`` with one configuration (see its header for the keys).

    Args:
        config: the workload, flavour (``sio``/``bare``), port, and its parameters.
        cpu: the core to pin it to (``None``: not pinned).
    """

    def __init__(self, config: dict[str, Any], cpu: Optional[int] = 1) -> None:
        self.config = {"host": "127.0.0.1", **config}
        self.cpu = cpu
        self.warnings: list[str] = []

    def run(
        self,
        on_mark: Optional[Callable[[str, LoadGen], None]] = None,
        timeout: float = 300.0,
    ) -> dict[str, Any]:
        """Run to the end; ``on_mark(name, self)`` is called at each mark line.

        ``on_mark`` may call :meth:`command` to drive the ``idle`` workload.
        """
        cmd = [
            *taskset_prefix(self.cpu),
            node(),
            str(BENCH_DIR / "loadgen.js"),
            json.dumps(self.config),
        ]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=BENCH_DIR
        )
        deadline = time.monotonic() + timeout
        result: Optional[dict[str, Any]] = None
        try:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                if time.monotonic() > deadline:
                    raise BenchmarkError("the load generator ran out of time")
                try:
                    msg = json.loads(line)
                except ValueError:
                    self.warnings.append(line.strip())
                    continue
                event = msg.pop("event", None)
                if event == "mark" and on_mark is not None:
                    on_mark(msg["name"], self)
                elif event == "warning":
                    self.warnings.append(msg.get("message", ""))
                elif event == "error":
                    raise BenchmarkError(f"load generator: {msg.get('message')}")
                elif event == "result":
                    result = msg
            self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        if result is None:
            raise BenchmarkError(f"the load generator gave no result (exit {self.proc.returncode})")
        return result

    def command(self, text: str) -> None:
        """Send a line to the load generator's stdin."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()


def library_snapshot(rev: str, dest: Path) -> str:
    """Export ``socketio/`` as of git revision ``rev`` into ``dest``; return the commit id.

    Other people may be editing the work tree while a benchmark runs: a snapshot
    keeps every run of ``ours`` on the same code (and lets two revisions be compared).
    """
    commit = subprocess.run(
        ["git", "rev-parse", "--short", f"{rev}^{{commit}}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "socketio"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return commit


def work_tree_version() -> str:
    """``<commit>`` of the work tree, with ``+dirty`` when ``socketio/`` has changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "socketio"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "?"
    return commit + ("+dirty" if dirty else "")


def flavour(target: str) -> str:
    """The wire format the load generator speaks to ``target``."""
    return "bare" if target == "bare" else "sio"
