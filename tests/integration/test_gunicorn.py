"""socketio.sgunicorn under the real gunicorn, started as a user starts it.

``gunicorn -k socketio.sgunicorn.GeventSocketIOWorker -w N tests.integration.gunicorn_app:application``
in a subprocess, with websocket and xhr-polling clients speaking the 0.9 wire
format. Each worker is a separate process with its own sessions and its own
in-memory rooms: a session lives in the worker that handshook it. The workers
share a session secret, so a websocket reaching a sibling is adopted there,
and each has a forward listener, so a polling request reaching a sibling is
forwarded to the owner (``test_no_sticky_gunicorn.py`` tests that with four
workers). A broadcast reaches only the clients of one worker unless a pub/sub
manager is configured.
"""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import pytest
import requests
import websocket

from tests.client09.framing import event, parse
from tests.client09.handshake import handshake
from tests.client09.http import wait_http
from tests.client09.polling import PollingClient
from tests.client09.waiting import wait_for
from tests.client09.websocket import WebSocketClient

from .conftest import ROOT, free_port

APP = "tests.integration.gunicorn_app:application"
#: a signed session id: 40 hex digits, the owner's forward address (base64url), a 16-digit MAC
SID = r"[0-9a-f]{40}[A-Za-z0-9_-]*[0-9a-f]{16}"


def _without_control_socket() -> list[str]:
    """``--no-control-socket`` where gunicorn has one (25+; 23 is the last on Python 3.9)."""
    from gunicorn.config import KNOWN_SETTINGS

    flag = "--no-control-socket"
    return [flag] if any(flag in (setting.cli or ()) for setting in KNOWN_SETTINGS) else []


class Gunicorn:
    """A gunicorn master process with its logs in ``tmp``.

    ``worker`` is a class of :mod:`socketio.sgunicorn` or a dotted path;
    ``app`` the WSGI application, which answers the worker's pid on
    ``pid_path``; ``env`` adds to the environment.
    """

    def __init__(
        self,
        tmp: pathlib.Path,
        worker: str,
        workers: int,
        *args: str,
        app: str = APP,
        pid_path: str = "/",
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = tmp / f"access-{self.port}.log"
        self.error_log = tmp / f"error-{self.port}.log"
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "-k",
            worker if "." in worker else f"socketio.sgunicorn.{worker}",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{self.port}",
            "--access-logfile",
            str(self.access_log),
            "--error-logfile",
            str(self.error_log),
            *_without_control_socket(),
            *args,
            app,
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        wait_http(self.url + "/", proc=self.proc)
        # "Booting worker" is logged before the worker listens: wait until
        # every worker has answered a request (plain requests answer the pid).
        deadline = time.monotonic() + 15
        answered: set[int] = set()
        while len(answered) < workers:
            assert time.monotonic() < deadline, self.errors()
            answered.add(int(requests.get(self.url + pid_path, timeout=5).text))
        assert answered == self.worker_pids()

    def worker_pids(self) -> set[int]:
        return {int(p) for p in re.findall(r"Booting worker with pid: (\d+)", self.errors())}

    def errors(self) -> str:
        return self.error_log.read_text() if self.error_log.exists() else ""

    def access(self) -> str:
        return self.access_log.read_text() if self.access_log.exists() else ""

    def stop(self) -> None:
        """Quick shutdown (SIGQUIT): the graceful one is a test of its own."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def tmp_logs(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("gunicorn")


@pytest.fixture(scope="module")
def two_workers(tmp_logs):
    """Two workers with a 2 s worker timeout (gunicorn's heartbeat, not a request limit)."""
    server = Gunicorn(tmp_logs, "GeventSocketIOWorker", 2, "--timeout", "2")
    yield server
    server.stop()


@pytest.fixture
def start_gunicorn(tmp_logs):
    servers: list[Gunicorn] = []

    def start(worker: str, workers: int, *args: str) -> Gunicorn:
        server = Gunicorn(tmp_logs, worker, workers, *args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _echo_client(url: str) -> tuple[int, WebSocketClient]:
    """A websocket session connected to ``/echo``, and the pid of the worker serving it."""
    client = WebSocketClient(url, same_connection=True)
    assert client.opening == "1::"
    assert client.connect("/echo") == "1::/echo"
    [pid] = client.call("/echo", "pid")
    return pid, client


def _clients_on_both_workers(server: Gunicorn) -> dict[int, list[WebSocketClient]]:
    """Open websocket sessions until both workers serve at least two (bounded).

    Eight at a time: one by one, the kernel may give every connection to the
    worker that waits in accept first (it did, on PyPy); a worker busy with
    one leaves the next to the other.
    """
    by_pid: dict[int, list[WebSocketClient]] = {}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in range(8):
            for pid, client in pool.map(lambda _: _echo_client(server.url), range(8)):
                by_pid.setdefault(pid, []).append(client)
            if len(by_pid) == 2 and all(len(v) >= 2 for v in by_pid.values()):
                break
    assert set(by_pid) == server.worker_pids(), (set(by_pid), server.worker_pids())
    return by_pid


def test_two_workers_serve_websockets_past_the_worker_timeout(two_workers):
    by_pid = _clients_on_both_workers(two_workers)
    # Idle websockets for longer than --timeout: the gevent worker keeps
    # notifying the master, so no worker is killed and sessions survive.
    time.sleep(3)  # the test: idle past the worker timeout
    for pid, clients in by_pid.items():
        for client in clients:
            assert client.call("/echo", "echo", "still", pid) == ["still", pid]
    assert "WORKER TIMEOUT" not in two_workers.errors()
    assert two_workers.worker_pids() == set(by_pid)

    # Rooms and broadcasts are per worker with the default in-memory manager.
    (pid_a, clients_a), (_, clients_b) = by_pid.items()
    clients_a[0].send(event("/echo", "shout", "hello"))
    for client in clients_a:
        assert parse(client.recv())["data"] == {"name": "shout", "args": ["hello", pid_a]}
    clients_b[0].ws.settimeout(0.3)
    with pytest.raises(websocket.WebSocketTimeoutException):
        clients_b[0].ws.recv()

    for clients in by_pid.values():
        for client in clients:
            client.close()
    # gunicorn's access log, in its own format, for the handshakes and the websockets.
    wait_for(lambda: two_workers.access().count('" 101 ') >= 4, what="4 websockets logged")
    log = two_workers.access()
    assert re.search(r'"GET /socket\.io/1/ HTTP/1\.1" 200 ', log), log
    assert re.search(rf'"GET /socket\.io/1/websocket/{SID} HTTP/1\.1" 101 ', log), log


def test_any_worker_takes_the_websocket_of_a_siblings_handshake(two_workers):
    """Handshake and websocket on separate connections, so often on different workers.

    The workers share a session secret: the one that receives the websocket
    adopts a session handshaken by its sibling. A forged id is still refused
    with ``7:::1+0`` (which makes a 0.9 client handshake again).
    """
    pids = set()
    for _ in range(30):
        client = WebSocketClient(two_workers.url)
        assert client.opening == "1::"
        assert client.connect("/echo") == "1::/echo"
        [pid] = client.call("/echo", "pid")
        pids.add(pid)
        client.close()
    assert pids == two_workers.worker_pids()

    forged = "0" * 56
    ws = websocket.create_connection(
        two_workers.url.replace("http", "ws") + f"/socket.io/1/websocket/{forged}"
    )
    assert ws.recv() == "7:::1+0"
    ws.close()


def test_xhr_polling_and_websockets_share_a_worker(start_gunicorn):
    server = start_gunicorn("GeventSocketIOWorker", 1)
    [pid] = server.worker_pids()
    poller = PollingClient(server.url, open=False)
    assert poller.transports.split(",")[0] == "websocket"
    assert poller.packets() == ["1::"]
    poller.send("1::/echo")
    assert poller.packets() == ["1::/echo"]
    poller.send(event("/echo", "pid", msgid=1))
    assert poller.packets() == [f"6::/echo:1+[{pid}]"]

    ws = WebSocketClient(server.url)
    ws.connect("/echo")
    ws.send(event("/echo", "shout", "to all"))
    shout = parse(poller.wait_for(lambda raw: raw.startswith("5::/echo:")))
    assert shout["data"] == {"name": "shout", "args": ["to all", pid]}
    ws.close()
    assert re.search(rf'"POST /socket\.io/1/xhr-polling/{SID} HTTP/1\.1" 200 ', server.access())


def test_the_access_log_line_of_a_websocket_has_its_request_headers(start_gunicorn):
    # It is written when the connection ends, long after the upgrade request.
    server = start_gunicorn(
        "GeventSocketIOWorker", 1, "--access-logformat", "%(r)s %(s)s agent=%({user-agent}i)s"
    )
    sid = handshake(server.url)[0]
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{server.port}/socket.io/1/websocket/{sid}",
        header=["User-Agent: probe/1.0"],
        suppress_origin=True,
        timeout=5,
    )
    assert ws.recv() == "1::"
    ws.close()
    wait_for(
        lambda: re.search(
            r"GET /socket\.io/1/websocket/\w+ HTTP/1\.1 101 agent=probe/1\.0", server.access()
        ),
        what="the websocket's access log line",
    )


def read_past_close(ws: websocket.WebSocket) -> None:
    """Read up to ten frames, and once more after the close frame, to see the end.

    The read after the server's close raises: the connection is gone.
    """
    for _ in range(10):
        if ws.recv() == "":  # the close frame
            ws.recv()


def test_sigterm_stops_a_worker_promptly_with_open_connections(start_gunicorn):
    server = start_gunicorn("GeventSocketIOWorker", 1, "--graceful-timeout", "30")
    ws = WebSocketClient(server.url)
    ws.connect("/echo")
    poller = PollingClient(server.url, open=False)
    assert poller.packets() == ["1::"]
    held = poller.hold()  # the long-poll is read, and held by the worker

    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(10)
    elapsed = time.monotonic() - started
    # Sessions are ended on close, so gunicorn does not wait for --graceful-timeout.
    assert elapsed < 5, elapsed
    assert server.proc.returncode == 0
    # The held long-poll was answered (whatever its last packets), not cut.
    assert isinstance(held.packets(), list)  # a 200 with a whole payload
    # The websocket was closed by the server, after any last packets.
    ws.ws.settimeout(5)
    with pytest.raises((websocket.WebSocketConnectionClosedException, OSError)):
        read_past_close(ws.ws)
    assert "graceful timeout" not in server.errors().lower()
    assert "Shutting down: Master" in server.errors()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGQUIT], ids=["graceful", "quick"])
def test_a_worker_stopped_while_it_boots_exits(tmp_logs, stop):
    """A stop the master passes on before the worker has set its handlers is not lost.

    Without it the worker would serve on until the master kills it, at the
    end of the graceful timeout (a minute here).
    """
    port = free_port()
    error_log = tmp_logs / f"error-{port}.log"
    cmd = [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}"]
    cmd += ["-k", "tests.integration.gunicorn_app.SlowBootWorker", "--graceful-timeout", "60"]
    cmd += ["--error-logfile", str(error_log), *_without_control_socket(), APP]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:

        def log() -> str:
            return error_log.read_text() if error_log.exists() else ""

        wait_for(lambda: "patching" in log(), 30, "the worker to start booting")
        [pid] = re.findall(r"Booting worker with pid: (\d+)", log())
        proc.send_signal(stop)  # passed on to the worker, which sleeps before its handlers
        proc.wait(30)
        assert f"Worker exiting (pid: {pid})" in log(), log()
        assert proc.returncode == 0, log()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_nginx_worker_offers_only_xhr_polling(start_gunicorn):
    server = start_gunicorn("NginxGeventSocketIOWorker", 1)
    sid, _, _, transports = handshake(server.url)
    assert transports == "xhr-polling"
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(
            f"ws://127.0.0.1:{server.port}/socket.io/1/websocket/{sid}", timeout=5
        )
    assert info.value.status_code == 400
    resp = requests.get(f"{server.url}/socket.io/1/jsonp-polling/{sid}", timeout=5)
    assert resp.status_code == 400
    assert resp.text == "7:::0"

    poller = PollingClient(server.url, open=False)
    assert poller.packets() == ["1::"]
    poller.send("1::/echo", event("/echo", "echo", "over", "polling", msgid=1))
    assert poller.wait_for(lambda raw: raw.startswith("6::")) == '6::/echo:1+["over","polling"]'
