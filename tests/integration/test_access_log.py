"""The access log follows pywsgi's conventions: ``log_file=`` appends to a file, ``log=None`` is silent."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import urllib.request

from tests.client09.waiting import wait_for

from .conftest import ROOT, free_port

APP = textwrap.dedent(
    """
    from gevent import monkey; monkey.patch_all()
    import sys
    from socketio.server import SocketIOServer

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"plain"]

    port, mode, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    options = {"log_file": path} if mode == "file" else {"log": None}
    SocketIOServer(("127.0.0.1", port), app, policy_server=False, **options).serve_forever()
    """
)


def _serve(tmp_path, mode):
    script = tmp_path / "app.py"
    script.write_text(APP)
    port = free_port()
    log = tmp_path / "access.log"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(port), mode, str(log)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            urllib.request.urlopen(url + "/socket.io/", timeout=1).read()
            break
        except OSError:
            assert time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "no start"
            time.sleep(0.05)
    return proc, url, log


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read()


def test_log_file_receives_one_line_per_request(tmp_path):
    proc, url, log = _serve(tmp_path, "file")
    try:
        assert _get(url + "/page") == b"plain"
        _get(url + "/socket.io/1/")
        for request in ('"GET /page HTTP/1.1" 200', '"GET /socket.io/1/ HTTP/1.1" 200'):
            wait_for(lambda: request in log.read_text(), what=request)  # noqa: B023 - waited here
    finally:
        proc.terminate()
        proc.wait(5)


def test_log_none_writes_no_access_lines(tmp_path):
    proc, url, _ = _serve(tmp_path, "none")
    try:
        _get(url + "/page")
        _get(url + "/socket.io/1/")
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=5)
    assert "GET /page" not in stderr
    assert "GET /socket.io/1/" not in stderr


def test_a_websocket_is_logged_once_when_its_session_ends():
    """Its line (status 101) is written when the session ends, as for any request at its end."""
    import io

    import gevent

    import socketio
    from socketio.namespace import BaseNamespace
    from socketio.server import SocketIOServer
    from tests.client09.raw import raw_websocket

    def application(environ: dict, start_response: object) -> list[bytes]:
        socketio.socketio_manage(environ, {"": BaseNamespace})
        return []

    log = io.StringIO()
    server = SocketIOServer(("127.0.0.1", 0), application, policy_server=False, log=log)
    server.start()
    try:
        conn = raw_websocket(server.server_port)
        assert wait_for(lambda: len(server.sockets) == 1, what="the session", sleep=gevent.sleep)
        gevent.sleep(0.1)
        assert " 101 " not in log.getvalue()  # (the session goes on)
        conn.close()
        wait_for(lambda: " 101 " in log.getvalue(), what="the websocket's line", sleep=gevent.sleep)
        gevent.sleep(0.1)
        assert log.getvalue().count("/websocket/") == 1, log.getvalue()
        assert not server.sockets
    finally:
        server.stop()
