"""The per-interpreter choices of socketio.runtime."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from socketio import runtime


def test_the_interpreter_is_told_once():
    assert runtime.PYPY == (platform.python_implementation() == "PyPy")
    assert runtime.PARKED_PATH_UNTRACED == runtime.PYPY


def test_keeping_out_of_traces_takes_functions_methods_and_anything_else():
    class Holder:
        def method(self) -> None:
            pass

        @staticmethod
        def static() -> None:
            pass

    def function() -> None:
        pass

    runtime.keep_out_of_traces(function, Holder.method, Holder().method, Holder.static, len, 3)


@pytest.mark.skipif(not runtime.PYPY, reason="PyPy's JIT")
def test_the_server_keeps_the_parked_path_out_of_traces_on_pypy():
    """Importing the server marks the functions a websocket's greenlet stays in (no error)."""
    code = "import socketio.server, pypyjit; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "ok"


def test_the_runtime_module_imports_no_gevent():
    code = "import sys, socketio.runtime; print('gevent' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def _in_a_process(code: str, nursery: str) -> subprocess.CompletedProcess:
    """Run ``code`` in an interpreter started with ``PYPY_GC_NURSERY=nursery``."""
    env = {**os.environ, "PYPY_GC_NURSERY": nursery}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )


# (the nursery is sized when the process starts: the variable is then unset,
# as on a machine that chose nothing)
_SIZE = "import os; os.environ.pop('PYPY_GC_NURSERY'); from socketio import runtime; "


@pytest.mark.parametrize("nursery", ["128M", "16M"])
def test_an_oversized_nursery_not_chosen_is_told_on_pypy(nursery):
    done = _in_a_process(_SIZE + "print(runtime.oversized_nursery())", nursery)
    told = runtime.PYPY and nursery == "128M"
    assert done.stdout.strip() == (str(128 * 2**20) if told else "None")


def test_a_nursery_chosen_is_not_told():
    code = "from socketio import runtime; print(runtime.oversized_nursery())"
    assert _in_a_process(code, "128M").stdout.strip() == "None"


def test_the_server_warns_of_an_oversized_nursery_when_it_starts():
    code = _SIZE + (
        "import logging; logging.basicConfig(); from socketio.server import SocketIOServer; "
        "server = SocketIOServer(('127.0.0.1', 0), None, policy_server=False, log=None); "
        "server.start(); server.stop()"
    )
    warned = [
        line
        for line in _in_a_process(code, "128M").stderr.splitlines()
        if "PYPY_GC_NURSERY" in line
    ]
    assert len(warned) == (1 if runtime.PYPY else 0)
    if warned:
        assert "128 MB" in warned[0]
