"""SocketIOServer's session bookkeeping: pending sessions, ended ids, adoption, farewells."""

from __future__ import annotations

import logging
import time

import pytest

from socketio.server import SocketIOServer
from socketio.sessionid import issued_at, new_sessid

SECRET = b"k" * 32


def app(environ, start_response):
    return []


@pytest.fixture
def make():
    servers: list[SocketIOServer] = []

    def make(**kwargs) -> SocketIOServer:
        server = SocketIOServer(("127.0.0.1", 0), app, policy_server=False, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        for socket in list(server.sockets.values()):
            socket.kill(detach=True)


def test_past_the_cap_the_oldest_pending_session_is_dropped(make, caplog):
    server = make(max_pending_sessions=3)
    caplog.set_level(logging.INFO, "socketio.server")
    made = [server.get_socket() for _ in range(5)]
    assert server.pending_sessions == 3
    assert set(server.sockets) == {s.sessid for s in made[2:]}
    for dropped in made[:2]:
        assert dropped.ended.is_set()
        assert server.get_socket(dropped.sessid) is None
    # A transport request makes a session connected: no longer pending, never dropped.
    assert server.get_socket(made[2].sessid) is made[2]
    assert server.pending_sessions == 2
    more = [server.get_socket() for _ in range(3)]
    assert server.pending_sessions == 3
    assert made[2].sessid in server.sockets
    assert not made[2].ended.is_set()
    assert set(server.sockets) == {made[2].sessid, *(s.sessid for s in more)}
    # One line for the whole flood (rate limited), not one per dropped session.
    lines = [r for r in caplog.records if "handshaken and not connected" in r.getMessage()]
    assert len(lines) == 1


def test_a_pending_session_that_ends_is_no_longer_pending(make):
    server = make()
    socket = server.get_socket()
    assert server.pending_sessions == 1
    socket.kill(detach=True)
    assert server.pending_sessions == 0
    other = server.get_socket()
    server.sockets.pop(other.sessid)
    assert server.pending_sessions == 0
    assert server.sockets.pop("nope", None) is None
    with pytest.raises(KeyError):
        server.sockets.pop("nope")


def test_an_id_that_ended_here_is_never_adopted(make):
    server = make(session_secret=SECRET)
    own = server.get_socket()
    assert server.get_socket(own.sessid) is own  # connected
    own.kill(detach=True)
    assert server.adopt_socket(own.sessid, {}) is None
    # Nor one that never connected (dropped or expired while pending).
    pending = server.get_socket()
    pending.kill(detach=True)
    assert server.adopt_socket(pending.sessid, {}) is None


def test_adoption_runs_the_authorization_hook_on_the_request(make, caplog):
    seen = []

    def authorize(environ):
        seen.append(environ)
        if environ.get("boom"):
            raise RuntimeError("hook failed (expected by the test)")
        return environ.get("token") == "ok"

    sibling = make(session_secret=SECRET)
    server = make(session_secret=SECRET, authorization=authorize)
    sid = sibling.get_socket().sessid
    assert server.adopt_socket(sid) is None  # no request to judge
    assert server.adopt_socket(sid, {"token": "no"}) is None
    with caplog.at_level(logging.ERROR, "socketio.server"):
        assert server.adopt_socket(sid, {"boom": True}) is None
    assert "authorization hook failed" in caplog.text
    adopted = server.adopt_socket(sid, {"token": "ok"})
    assert adopted is not None
    assert adopted.sessid == sid
    assert seen[-1] == {"token": "ok"}
    assert server.adopt_socket(sid, {"token": "ok"}) is None  # live here already
    adopted.kill(detach=True)
    assert server.adopt_socket(sid, {"token": "ok"}) is None  # ended stays ended


def test_forgetting_an_ended_id_early_refuses_every_id_issued_no_later(make):
    server = make(session_secret=SECRET, max_pending_sessions=1)  # 4 ended ids remembered
    sibling = make(session_secret=SECRET)
    now = time.time()
    ids = [new_sessid(SECRET, now - 5) for _ in range(5)]
    for sid in ids:
        adopted = server.adopt_socket(sid, {})
        assert adopted is not None
        adopted.kill(detach=True)
    assert len(server._ended) == 4
    # ids[0] was forgotten; it is refused all the same, as is any id issued by then.
    assert server.adopt_socket(ids[0], {}) is None
    assert server.adopt_socket(new_sessid(SECRET, now - 5), {}) is None
    later = new_sessid(SECRET, now)
    assert issued_at(later) > issued_at(ids[0])
    assert server.adopt_socket(later, {}) is not None
    del sibling


def test_ended_ids_are_forgotten_once_too_old_to_adopt(make):
    server = make(session_secret=SECRET, close_timeout=1)
    old = new_sessid(SECRET, time.time() - 10)
    server._remember_ended(old)  # too old: nothing to remember
    assert old not in server._ended
    fresh = new_sessid(SECRET, time.time())
    server._remember_ended(fresh)
    assert fresh in server._ended
    server._ended.order.appendleft(old)  # an entry gone stale
    server._ended.ids.add(old)
    server._remember_ended(new_sessid(SECRET, time.time()))
    assert old not in server._ended


def test_without_a_secret_nothing_is_remembered(make):
    server = make()
    socket = server.get_socket()
    socket.kill(detach=True)
    assert not server._ended
    assert not server._ended.order


def test_farewells_expire_oldest_first(make):
    server = make(close_timeout=0.05)
    first, second = server.get_socket(), server.get_socket()
    server.keep_farewell(first)
    time.sleep(0.1)  # the test: past the first one's close timeout
    server.keep_farewell(second)  # expires the first on the way
    assert list(server.farewells) == [second.sessid]
    assert server.take_farewell(first.sessid) is None
    assert server.take_farewell(second.sessid) is second
    assert server.take_farewell(second.sessid) is None
