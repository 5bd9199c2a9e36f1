"""Ctrl-C: ``SocketIOServer.serve_forever`` stops with one line, not gevent's traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request

from .conftest import ROOT, default_sigint, free_port

#: a user's script: serve_forever, then say it returned
SCRIPT = """
import logging, os, signal, sys
from socketio.server import SocketIOServer
logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
if sys.argv[2] == "own":
    def own(signum, frame):
        # (exits at once: an exception raised here would land in whichever
        # greenlet runs, which is gevent's business, not the one under test)
        print("own handler", flush=True)
        os._exit(3)
    signal.signal(signal.SIGINT, own)
server = SocketIOServer(("127.0.0.1", int(sys.argv[1])), lambda e, s: [], policy_server=False)
server.serve_forever()
print("returned", flush=True)
"""


def _interrupt(mode: str) -> subprocess.CompletedProcess[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(port), mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/socket.io/", timeout=1):
                break
        except OSError:
            assert time.monotonic() < deadline, "the server did not start"
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


def test_ctrl_c_stops_the_server_with_one_line():
    done = _interrupt("default")
    assert done.returncode == 0, done.stdout
    assert "Traceback" not in done.stdout
    assert "KeyboardInterrupt" not in done.stdout
    lines = [line for line in done.stdout.splitlines() if "GET /socket.io/" not in line]
    assert lines == [
        "socketio.server interrupted: stopping the server (its sessions told to reconnect)",
        "returned",
    ]


def test_an_application_keeps_its_own_sigint_handler():
    done = _interrupt("own")
    assert done.returncode == 3, done.stdout
    assert "own handler" in done.stdout
    assert "interrupted: stopping" not in done.stdout
