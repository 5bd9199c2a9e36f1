"""SocketIOServer's own small duties: the access-log file it opened, fresh session ids."""

from __future__ import annotations

import gevent
import pytest

import socketio.server as server_module
from socketio.httpseam import HandlerServer
from socketio.server import SocketIOServer


def app(environ, start_response):
    return []


def test_the_log_file_opened_for_log_file_is_closed_on_stop_and_reopened_on_start(tmp_path):
    path = tmp_path / "access.log"
    server = SocketIOServer(("127.0.0.1", 0), app, policy_server=False, log_file=str(path))
    opened = server.log
    assert not opened.closed
    server.start()
    server.stop()
    assert opened.closed
    assert server.log is None  # a handler still ending writes no line
    server.start()  # started again: the file is appended to again
    try:
        assert server.log is not None
        assert not server.log.closed
        assert server.log is not opened
    finally:
        server.stop()
    assert server.log is None


def test_a_log_given_by_the_application_is_left_open(tmp_path):
    log = open(tmp_path / "access.log", "a")
    try:
        server = SocketIOServer(("127.0.0.1", 0), app, policy_server=False, log=log)
        server.start()
        server.stop()
        assert not log.closed
        assert server.log is log
    finally:
        log.close()


def test_a_new_session_is_built_once_its_id_is_drawn(monkeypatch):
    server = SocketIOServer(("127.0.0.1", 0), app, policy_server=False)
    taken = server.get_socket()
    drawn = iter([taken.sessid, taken.sessid, "f" * 32])
    monkeypatch.setattr(server_module, "new_sessid", lambda secret, now, owner="": next(drawn))
    built = []

    class CountedSocket(server_module.Socket):
        def __init__(self, *args, **kwargs):
            built.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(server_module, "Socket", CountedSocket)
    socket = server.get_socket()
    assert socket.sessid == "f" * 32
    assert built == [socket]  # the ids already taken cost no Socket
    assert server.sockets[socket.sessid] is socket
    assert server.pending_sessions == 2
    for each in list(server.sockets.values()):
        each.kill(detach=True)
    gevent.sleep(0)


def test_the_server_provides_every_member_of_the_handlers_seam():
    server = SocketIOServer(("127.0.0.1", 0), app, policy_server=False)
    members = [name for name in vars(HandlerServer) if not name.startswith("_")]
    assert {"connections", "get_socket", "take_farewell", "adopt_socket", "stopping"} <= set(
        members
    )
    for name in members:
        assert hasattr(server, name), name


@pytest.mark.parametrize("name", ["clear", "popitem"])
def test_sessions_removed_in_bulk_stop_being_pending(name):
    server = SocketIOServer(("127.0.0.1", 0), app, policy_server=False)
    sockets = [server.get_socket() for _ in range(2)]
    getattr(server.sockets, name)()
    assert server.pending_sessions == (0 if name == "clear" else 1)
    for socket in sockets:
        socket.kill()
