"""A user's install, outside this repository: a wheel in a fresh virtualenv runs the chat example.

The module builds the wheel from a copy of the files the build needs
(``pyproject.toml``, ``README.rst``, ``LICENSE``, ``socketio/``), so the build
leaves nothing in the checkout, creates a virtualenv in a temporary directory,
installs the wheel there with its dependencies from the package index (pip's
cache makes that a matter of seconds), copies ``examples/chat`` next to it and
starts it with the virtualenv's Python. No ``node_modules`` is anywhere above
it: the browser client it serves is the one in the wheel.

The last test installs python-socketio (the other package named ``socketio``)
into that virtualenv, over this one and then under it, and checks what a user
is told each time.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from tests.client09.http import wait_http

from .conftest import ROOT, free_port
from .examples import chat_through_rooms
from .test_examples_browser import BrowserThread

pytestmark = [pytest.mark.install, pytest.mark.timeout(600)]

#: what the build reads (pyproject.toml: readme, license-files, packages)
BUILD_INPUTS = ("pyproject.toml", "README.rst", "LICENSE")
CLIENT_SHA256 = "b17f7a71540fa8850b25d4d2b73f1b00d4354f005501156b2046a4edbbf9ba1f"


def run(*argv: str | pathlib.Path, cwd: pathlib.Path, check: bool = True) -> str:
    """Run a command with a clean environment (no PYTHONPATH into the checkout)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout + proc.stderr
    if check:
        assert proc.returncode == 0, f"{argv} failed:\n{output}"
    return output


class Installed:
    """The wheel, and a virtualenv outside the repository with it installed."""

    def __init__(self, base: pathlib.Path) -> None:
        self.base = base
        source = base / "source"
        source.mkdir()
        for name in BUILD_INPUTS:
            shutil.copy2(ROOT / name, source / name)
        shutil.copytree(
            ROOT / "socketio", source / "socketio", ignore=shutil.ignore_patterns("__pycache__")
        )
        wheels = base / "wheels"
        run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, source, cwd=base)
        (self.wheel,) = wheels.glob("gevent_socketio-*.whl")
        self.venv = base / "venv"
        run(sys.executable, "-m", "venv", self.venv, cwd=base)
        self.python = self.venv / "bin" / "python"
        self.pip("install", "-q", self.wheel)
        self.app = base / "app"
        shutil.copytree(
            ROOT / "examples" / "chat", self.app, ignore=shutil.ignore_patterns("__pycache__")
        )

    def pip(self, *args: str | pathlib.Path, check: bool = True) -> str:
        return run(self.python, "-m", "pip", *args, cwd=self.base, check=check)

    def python_c(self, code: str, check: bool = True) -> str:
        return run(self.python, "-W", "always", "-c", code, cwd=self.app, check=check)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    return Installed(tmp_path_factory.mktemp("wheel-install"))


@pytest.fixture(scope="module")
def chat(installed) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = installed.base / "chat.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [installed.python, "chat.py", "--host", "127.0.0.1", "--port", str(port)],
            cwd=installed.app,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
        try:
            wait_http(url + "/", proc=proc)
        except RuntimeError:
            proc.kill()
            proc.wait()
            raise RuntimeError("the chat did not start:\n" + log_path.read_text()) from None
        yield url
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_wheel_holds_the_package_and_the_client(installed):
    import zipfile

    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for name in ("socket.io.js", "socket.io.min.js", "LICENSE.socket.io-client"):
        assert f"socketio/static/{name}" in names
    assert "socketio/py.typed" in names
    assert not any(name.startswith("tests/") for name in names)


def test_the_virtualenv_imports_the_installed_package(installed):
    out = installed.python_c("import socketio, sys; print(socketio.__file__)")
    where = pathlib.Path(out.strip().splitlines()[-1])
    assert installed.venv in where.parents, out
    assert ROOT not in where.parents
    # installed as the original's distribution name, with its paste runner
    out = installed.python_c(
        "from importlib.metadata import distribution as d; "
        "print([e.value for e in d('gevent-socketio').entry_points "
        "if e.group == 'paste.server_runner'])"
    )
    assert "socketio.server:serve_paste" in out


def test_the_example_serves_the_npm_release_of_the_client(chat):
    for name, sha in (("socket.io.js", CLIENT_SHA256),):
        resp = requests.get(f"{chat}/socket.io/{name}", timeout=5)
        assert resp.status_code == 200
        assert hashlib.sha256(resp.content).hexdigest() == sha
    assert requests.get(f"{chat}/socket.io/socket.io.min.js", timeout=5).status_code == 200


def test_a_09_client_chats_through_the_installed_example(chat):
    chat_through_rooms(chat)


@pytest.mark.browser
def test_chromium_loads_the_packaged_client_and_connects(chat):
    from .conftest import CHROMIUM

    if not pathlib.Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: ./run test installs it (apt-get install chromium)")

    def scenario(browser):
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(chat + "/")
            page.wait_for_function("typeof io !== 'undefined'", timeout=10_000)
            result = page.evaluate(
                """() => new Promise((resolve, reject) => {
                    setTimeout(() => reject(new Error('no answer in 10 s')), 10000);
                    var s = io.connect('/chat', {'force new connection': true});
                    s.on('connect', function () {
                        s.emit('nickname', 'chromium', function (name) {
                            resolve({version: io.version, name: name,
                                     transport: s.socket.transport.name});
                        });
                    });
                })"""
            )
        finally:
            page.close()
        return result, errors

    thread = BrowserThread()
    try:
        result, errors = thread.run(scenario)
    finally:
        thread.close()
    assert errors == []
    assert result["version"] == "0.9.16"
    assert result["name"] == "chromium"
    assert result["transport"] == "websocket"


def test_python_socketio_installed_over_it_and_under_it(installed, chat):
    # (last in the module: it changes the virtualenv; the chat above keeps
    # running on the modules it imported)
    installed.pip("install", "-q", "python-socketio>=5,<6")
    # Over it: python-socketio's __init__, server and namespace replaced these,
    # so nothing of this package runs; the error is the one the quick start's
    # troubleshooting section quotes.
    out = installed.python_c("from socketio import socketio_manage", check=False)
    assert "cannot import name 'socketio_manage' from 'socketio'" in out, out
    out = installed.python_c("from socketio.server import SocketIOServer", check=False)
    assert "cannot import name 'SocketIOServer' from 'socketio.server'" in out, out
    # Reinstalled over python-socketio: this package works again, and says
    # that the directory is shared.
    installed.pip("install", "-q", "--force-reinstall", "--no-deps", installed.wheel)
    out = installed.python_c("from socketio.server import SocketIOServer; print('imported')")
    assert "imported" in out
    assert "MixedPackageWarning" in out
    assert "pip uninstall python-socketio gevent-socketio" in out
