"""Shared helpers: running the real socket.io-client 0.9.16 code in node.

Nothing here skips. When node or the npm package is missing, the tests that
need them fail and say how to install them.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# No deadline per example: the property tests assert behaviour, not speed (a
# JIT compiling, or a busy machine, made single examples pass 200 ms and fail).
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

JS_DIR = Path(__file__).parent / "js"
CLIENT_DIR = JS_DIR / "node_modules" / "socket.io-client"
CLIENT_VERSION = "0.9.16"


def _require_node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node.js (./run test does it)", pytrace=False)
    if not (CLIENT_DIR / "lib" / "parser.js").is_file():
        pytest.fail(
            f"{CLIENT_DIR} is missing: run `npm ci --prefix {JS_DIR}`",
            pytrace=False,
        )
    version = json.loads((CLIENT_DIR / "package.json").read_text())["version"]
    if version != CLIENT_VERSION:
        pytest.fail(f"socket.io-client is {version}, the tests need {CLIENT_VERSION}")
    return node


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The ``node_modules`` directory holding socket.io-client 0.9.16."""
    _require_node()
    return JS_DIR / "node_modules"


@pytest.fixture(scope="session")
def run_node(node_modules: Path):
    """``run_node(script, data)``: run ``tests/js/<script>`` in node.

    ``data`` goes as JSON on its stdin; the call returns its JSON output.
    """
    node = _require_node()

    def run(script: str, data: Any, timeout: float = 60) -> Any:
        proc = subprocess.run(
            [node, str(JS_DIR / script)],
            input=json.dumps(data, ensure_ascii=True),
            capture_output=True,
            text=True,
            encoding="utf-8",
            cwd=JS_DIR,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            pytest.fail(f"node {script} failed ({proc.returncode}):\n{proc.stderr}")
        return json.loads(proc.stdout)

    return run


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip the tests marked ``cpython_only`` on another interpreter (PyPy)."""
    if item.get_closest_marker("cpython_only") and platform.python_implementation() != "CPython":
        pytest.skip(f"measures CPython internals ({platform.python_implementation()})")


def _one_shot_requests_close_their_connection() -> None:
    """``requests.get(...)`` and the like ask the server to close the connection.

    A one-shot call's pooled connection is closed when its response object is
    freed: at once on CPython, at some later garbage collection on PyPy. Many
    tests count the server's connections or descriptors, and a connection
    left open there would count against them. ``Connection: close`` makes the
    server end it after the answer, on every interpreter (a ``Session`` keeps
    its connections alive as before).
    """
    import requests.api

    request = requests.api.request
    if getattr(request, "closes", False):
        return

    def one_shot(method: str, url: str, **kwargs: Any) -> Any:
        headers = dict(kwargs.get("headers") or {})
        if not any(name.lower() == "connection" for name in headers):
            headers["Connection"] = "close"
        kwargs["headers"] = headers
        return request(method, url, **kwargs)

    one_shot.closes = True  # type: ignore[attr-defined]
    requests.api.request = one_shot


_one_shot_requests_close_their_connection()
