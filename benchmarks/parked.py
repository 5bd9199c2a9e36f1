"""Idle websockets opened in a *warm* PyPy server: what each keeps, with and without the JIT trick.

    .venv/bin/python -m benchmarks.parked [--runs 3] [--clients 5000] [--warm-seconds 10] [--pypy PATH]

Workload E measures idle memory in a fresh server process: no trace of the
JIT exists yet there. A server that has served traffic for a while has
compiled the paths a websocket connects through, and on PyPy a trace
entered on the way to the wait a connection parks in can leave, for as
long as the connection lasts, PyPy's blackhole interpreter and the trace's
frames on that connection's greenlet (see ``socketio.runtime``,
``PARKED_PATH_UNTRACED``, and ``LOG.md``). This benchmark shows it: for
each mode it starts the benchmarks' application on PyPy, warms it with
websocket echoes (100 clients) and with connections made and closed, then
opens ``--clients`` idle websockets and reads, after full collections, the
live heap (``gc.get_stats().memory_used_sum``) before and after the last
``clients - warm`` of them.

Modes: ``as shipped`` (the library as it is), and ``parked path traced``
(``pypyjit.dont_trace_here`` made a no-op before the library is imported:
what the server would do without the trick).

PyPy only (the trick does nothing on CPython). Prints one table, a row per
run and mode: what the JIT compiles first varies from run to run, and so
does what a traced parked path keeps (about the same as shipped in some
runs, 190 KB per connection in one run seen; ``LOG.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Optional

from benchmarks.harness import (
    BenchmarkError,
    LoadGen,
    ServerProcess,
    raise_nofile,
    taskset_prefix,
)

ROOT = Path(__file__).resolve().parent.parent
MODES = {"as shipped": False, "parked path traced": True}


def _flask_app() -> Any:
    """The benchmarks' namespace under a Flask view, as a Flask application calls the library."""
    import flask

    from benchmarks import ours_app
    from socketio import socketio_manage

    app = flask.Flask(__name__)

    def socketio_view(rest: str) -> Any:
        socketio_manage(flask.request.environ, ours_app.NAMESPACES, flask.request)
        return flask.Response()

    # (werkzeug routes a websocket request only to a rule that says so)
    app.add_url_rule("/socket.io/<path:rest>", "polling", socketio_view)
    app.add_url_rule("/socket.io/<path:rest>", "websocket", socketio_view, websocket=True)
    return app


def serve(port: int, traced: bool, flask: bool = False) -> None:
    """The server side (run under PyPy): the benchmarks' app (or a Flask one), and ``/_heap``."""
    from gevent import monkey

    monkey.patch_all()
    import gc

    if traced:
        import pypyjit  # type: ignore[import-not-found]  # (PyPy's own module)

        pypyjit.dont_trace_here = lambda *args: None
    sys.path.insert(0, str(ROOT))
    from benchmarks import ours_app

    served = _flask_app() if flask else ours_app.application

    def application(environ: dict, start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] != "/_heap":
            return served(environ, start_response)
        for _ in range(3):
            gc.collect()
        body = json.dumps({"used": _bytes(gc.get_stats().memory_used_sum)}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    ours_app.SocketIOServer(
        ("127.0.0.1", port), application, policy_server=False, log=None
    ).serve_forever()


def _bytes(text: Any) -> float:
    """PyPy's ``"54.1MB"`` as bytes."""
    text = str(text).strip()
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


class _ParkedServer(ServerProcess):
    """This module's server (``--serve``) on PyPy, started and stopped as the suite's are."""

    def __init__(self, pypy: str, traced: bool, flask: bool) -> None:
        super().__init__("ours", python=pypy)
        self.extra_args = (["--traced"] if traced else []) + (["--flask"] if flask else [])

    def command(self) -> list[str]:
        """``python -m benchmarks.parked --serve PORT``, pinned as the suite's servers are."""
        cmd = [self.python, "-m", "benchmarks.parked", "--serve", str(self.port)]
        return taskset_prefix(self.cpu) + cmd + self.extra_args


def measure(
    pypy: str, traced: bool, clients: int, warm_seconds: float, flask: bool = False
) -> dict[str, float]:
    """One mode: the warm-up's echo rate and the live heap each idle websocket adds."""
    with _ParkedServer(pypy, traced, flask) as server:
        port = server.port
        url = f"http://127.0.0.1:{port}/_heap"
        echo = LoadGen(
            {
                "workload": "echo",
                "clients": 100,
                "port": port,
                "duration_ms": int(warm_seconds * 1000),
            }
        ).run()
        warm = max(1, clients // 10)
        heap: list[float] = []

        def on_mark(name: str, loadgen: LoadGen) -> None:
            if name in ("warm", "connected"):
                time.sleep(0.5 if name == "connected" else 0)
                with urllib.request.urlopen(url, timeout=120) as resp:
                    heap.append(json.loads(resp.read())["used"])
                loadgen.command("go" if name == "warm" else "done")

        config = {
            "workload": "idle",
            "clients": clients,
            "warm": warm,
            "port": port,
            "warmup_ms": int(warm_seconds * 1000),
        }
        idle = LoadGen(config).run(on_mark)
    if idle.get("connect_errors"):
        raise BenchmarkError(f"{idle['connect_errors']} connections failed")
    return {
        "echo msgs/s": float(echo.get("msgs_per_s", 0.0)),
        "live heap KB/conn": (heap[1] - heap[0]) / (clients - warm) / 1e3,
    }


def main(argv: Optional[list[str]] = None) -> int:
    """Measure each mode and print the table (or, with ``--serve``, be the server)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--warm-seconds", type=float, default=10.0)
    parser.add_argument("--pypy", default=str(ROOT / ".venv-pypy" / "bin" / "python"))
    parser.add_argument("--flask", action="store_true", help="the namespace under a Flask view")
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.traced, args.flask)
        return 0
    raise_nofile()
    rows = [
        (run, mode, measure(args.pypy, traced, args.clients, args.warm_seconds, args.flask))
        for run in range(1, args.runs + 1)
        for mode, traced in MODES.items()
    ]
    app = "a Flask view" if args.flask else "the benchmarks' application"
    print(
        f"PyPy ({args.pypy}), {app}, {args.clients} idle websockets"
        f" after {args.warm_seconds:g} s of warm-up"
    )
    print("| run | mode | live heap KB/conn | warm-up echo msgs/s |")
    print("|---|---|---|---|")
    for run, mode, row in rows:
        print(f"| {run} | {mode} | {row['live heap KB/conn']:.1f} | {row['echo msgs/s']:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
