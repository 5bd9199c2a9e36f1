"""The per-interpreter choices of socketio.runtime."""

from __future__ import annotations

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
