"""SocketIOServer.stop(), in this process: what connections still open are answered.

A 0.9 client whose poll is answered ``7:::1+0`` (not handshaken) calls that
being booted (its disconnect reason), where a failed request is a lost
connection, after which it reconnects to the next server. Requests still
arriving on open connections once ``stop()`` has ended the sessions (keep-alive
connections, a reconnecting client while ``stop()`` waits) get a 503 and the
connection is closed.
"""

from __future__ import annotations

from typing import Any

import gevent
import gevent.socket
import pytest

import socketio
from socketio.namespace import BaseNamespace
from socketio.server import SocketIOServer


class Echo(BaseNamespace):
    def on_echo(self, *args: Any) -> Any:
        return args


def application(environ: dict, start_response: Any) -> list[bytes]:
    socketio.socketio_manage(environ, {"": Echo})
    return []


class KeepAlive:
    """One HTTP/1.1 keep-alive connection on gevent sockets."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = gevent.socket.create_connection(("127.0.0.1", port))
        self.buffer = b""

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict, bytes]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.conn.sendall(head.encode() + body)
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.conn.recv(65536)
            assert chunk, "the connection closed before an answer"
            self.buffer += chunk
        raw_head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        length = int(headers["Content-Length"])
        while len(self.buffer) < length:
            self.buffer += self.conn.recv(65536)
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(lines[0].split()[1]), headers, body

    def closed_by_peer(self) -> bool:
        with gevent.Timeout(2):
            return self.conn.recv(1) == b""


@pytest.fixture
def server():
    server = SocketIOServer(("127.0.0.1", 0), application, policy_server=False, log=None)
    server.start()
    yield server
    server.stop()


def test_polls_for_sessions_the_stop_ended_get_a_503_and_the_connection_closed(server):
    client = KeepAlive(server.server_port)
    status, _, body = client.request("GET", "/socket.io/1/")
    sid = body.split(b":")[0].decode()
    poll = f"/socket.io/1/xhr-polling/{sid}"
    assert client.request("GET", poll)[2] == b"1::"
    assert client.request("POST", poll, b'5:1+::{"name":"echo","args":[1]}')[0] == 200
    assert client.request("GET", poll)[2] == b"6:::1+[1]"
    assert server.stopping is False

    server.stop()
    assert server.stopping is True
    assert sid not in server.sockets
    # its next poll gets the noop left for it (as a held poll would have), the one after
    # finds no session
    assert client.request("GET", poll)[2] == b"8::"
    status, headers, body = client.request("GET", poll)
    assert (status, headers["Connection"], body) == (503, "close", b"server shutting down")
    assert client.closed_by_peer()


def test_a_handshake_on_an_open_connection_gets_a_503_once_stopped(server):
    client = KeepAlive(server.server_port)
    assert client.request("GET", "/socket.io/1/")[0] == 200
    server.stop()
    status, _, body = client.request("GET", "/socket.io/1/")
    assert (status, body) == (503, b"server shutting down")
    assert not server.sockets


def test_a_session_booted_before_the_stop_still_gets_its_farewell(server):
    client = KeepAlive(server.server_port)
    sid = client.request("GET", "/socket.io/1/")[2].split(b":")[0].decode()
    poll = f"/socket.io/1/xhr-polling/{sid}"
    assert client.request("GET", poll)[2] == b"1::"
    server.sockets[sid].kill(detach=True)  # booted by the application, between two polls
    server.stop()
    assert client.request("GET", poll)[2] == b"0::"


def test_a_restarted_server_answers_again(server):
    server.stop()
    server.start()
    assert server.stopping is False
    client = KeepAlive(server.server_port)
    assert client.request("GET", "/socket.io/1/")[0] == 200
