"""One session id drawn per session, and one delivery function for both servers."""

from __future__ import annotations

from typing import Any

import pytest

from socketio import seams, server, sessionid, testing_server, virtsocket
from socketio.testing import FakeServer
from socketio.virtsocket import Socket

SECRET = b"s" * 32


def _app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    return []


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every session id drawn, by the server or by a Socket."""
    drawn: list[str] = []

    def counting(secret: Any = None, now: Any = None, owner: str = "") -> str:
        sid = sessionid.new_sessid(secret, now, owner)
        drawn.append(sid)
        return sid

    monkeypatch.setattr(server, "new_sessid", counting)
    monkeypatch.setattr(virtsocket, "new_sessid", counting)
    return drawn


def test_a_socket_built_as_the_original_did_draws_its_own_id(draws: list[str]) -> None:
    host = FakeServer()
    try:
        socket = Socket(host, {})
        assert draws == [socket.sessid]
        positional = Socket(host, host.config, None)
        assert positional.sessid == draws[-1]
        assert len(draws) == 2
    finally:
        host.close()


def test_a_socket_given_an_id_draws_none(draws: list[str]) -> None:
    host = FakeServer()
    try:
        socket = Socket(host, {}, sessid="abc")
        assert socket.sessid == "abc"
        assert draws == []
    finally:
        host.close()


@pytest.mark.parametrize("secret", [None, SECRET])
def test_the_server_draws_one_id_per_new_session(draws: list[str], secret: Any) -> None:
    srv = server.SocketIOServer(("127.0.0.1", 0), _app, policy_server=False, session_secret=secret)
    try:
        session = srv.get_socket()
        assert session is not None
        assert draws == [session.sessid]
        assert srv.sockets[session.sessid] is session
    finally:
        for sock in list(srv.sockets.values()):
            sock.kill(detach=True)


def test_adopting_a_sibling_session_draws_no_id(draws: list[str]) -> None:
    sibling = server.SocketIOServer(
        ("127.0.0.1", 0), _app, policy_server=False, session_secret=SECRET
    )
    srv = server.SocketIOServer(("127.0.0.1", 0), _app, policy_server=False, session_secret=SECRET)
    try:
        handshaken = sibling.get_socket()
        assert handshaken is not None
        del draws[:]
        adopted = srv.adopt_socket(handshaken.sessid)
        assert adopted is not None
        assert adopted.sessid == handshaken.sessid
        assert draws == []
    finally:
        for s in (sibling, srv):
            for sock in list(s.sockets.values()):
                sock.kill(detach=True)


def test_both_servers_deliver_through_one_function() -> None:
    assert server.SocketIOServer._deliver is seams.deliver_to_session
    assert testing_server.FakeServer._deliver is seams.deliver_to_session


def test_delivery_queues_for_a_known_session_and_ignores_an_unknown_one() -> None:
    host = FakeServer()
    try:
        socket = host.get_socket()
        assert socket is not None
        host._deliver(socket.sessid, "5:::{}")
        host._deliver("unknown", "5:::{}")
        assert socket.client_queue.get_nowait() == "5:::{}"
        assert socket.client_queue.qsize() == 0
    finally:
        host.close()
