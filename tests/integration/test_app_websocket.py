"""The application's own websocket routes (``environ['wsgi.websocket']``), beside Socket.IO's."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time

from tests.client09.raw import read_until, upgrade_request
from tests.wsframes import client_frame

from .conftest import ROOT, free_port

APP = textwrap.dedent(
    """
    from gevent import monkey; monkey.patch_all()
    import sys
    from socketio.server import SocketIOServer

    def app(environ, start_response):
        websocket = environ.get("wsgi.websocket")
        if websocket is None:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"plain"]
        if environ["PATH_INFO"] == "/once":
            websocket.send(websocket.receive())  # and return, the websocket still open
        else:
            while (message := websocket.receive()) is not None:
                websocket.send(message)
        return []

    SocketIOServer(("127.0.0.1", int(sys.argv[1])), app, policy_server=False, log=None).serve_forever()
    """
)


def _upgrade(port: int, path: str) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.sendall(upgrade_request(port, "", path=path))
    head = read_until(conn, b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    return conn


def _frame_text(conn: socket.socket) -> bytes:
    """The payload of the next (small, unmasked) frame from the server."""
    data = b""
    while len(data) < 2 or len(data) < 2 + data[1]:
        chunk = conn.recv(4096)
        assert chunk, data
        data += chunk
    return data[2 : 2 + data[1]]


def test_a_route_that_returns_after_one_message_leaves_the_server_serving(tmp_path):
    """Its connection closes (its read watcher stopped first) and the next ones are served."""
    script = tmp_path / "app.py"
    script.write_text(APP)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(script), str(port)], cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "no start"
                time.sleep(0.05)
        for round_ in range(5):
            conn = _upgrade(port, "/once")
            conn.sendall(client_frame(f"hello {round_}".encode()))
            assert _frame_text(conn) == f"hello {round_}".encode()
            conn.settimeout(5)
            while conn.recv(4096):  # the server ends the connection
                pass
            conn.close()
        conn = _upgrade(port, "/echo")
        for text in (b"one", b"two"):
            conn.sendall(client_frame(text))
            assert _frame_text(conn) == text
        conn.close()
        time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert "Traceback" not in stderr, stderr
