"""``RoomsMixin`` and ``BroadcastMixin``: who receives what.

Run twice: on a real (unstarted) :class:`~socketio.server.SocketIOServer`, whose
manager indexes namespaces and rooms, and on a bare fake server without a
manager, where the mixins walk ``server.sockets`` as the original did.
"""

from __future__ import annotations

import pytest

from socketio.mixins import BroadcastMixin, RoomsMixin
from socketio.namespace import BaseNamespace
from socketio.server import SocketIOServer

from .fake_server import FakeServer, feed, make_socket, sent


class Chat(BaseNamespace, RoomsMixin, BroadcastMixin):
    pass


class News(BaseNamespace, RoomsMixin, BroadcastMixin):
    pass


NAMESPACES = {"": BaseNamespace, "/chat": Chat, "/news": News}


def app(environ, start_response):  # never called: the server is not started
    raise AssertionError


@pytest.fixture(params=["server", "fake"])
def server(request):
    if request.param == "server":
        srv = SocketIOServer(("127.0.0.1", 0), app, policy_server=False)
        assert srv.manager is not None
    else:
        srv = FakeServer()
    yield srv
    for socket in list(srv.sockets.values()):
        socket.kill(detach=True)


def new_socket(server, *endpoints: str):
    if isinstance(server, SocketIOServer):
        socket = server.get_socket()
        socket._set_environ({"socketio": socket})
        socket._set_namespaces(NAMESPACES)
        socket.incr_hits()
    else:
        socket = make_socket(NAMESPACES, server=server)
    feed(socket, *(f"1::{e}" for e in endpoints))
    sent(socket)
    return socket


@pytest.fixture
def crowd(server):
    """a, b, c in /chat; d only in /news; e with no namespace open."""
    sockets = {
        "a": new_socket(server, "/chat"),
        "b": new_socket(server, "/chat"),
        "c": new_socket(server, "/chat", "/news"),
        "d": new_socket(server, "/news"),
        "e": new_socket(server),
    }
    return sockets


def received(crowd) -> dict[str, list[str]]:
    return {name: sent(socket) for name, socket in crowd.items()}


def test_rooms_are_kept_in_the_session(crowd):
    chat = crowd["a"]["/chat"]
    chat.join("lobby")
    chat.join("games")
    assert chat.session["rooms"] == {"/chat_lobby", "/chat_games"}
    assert crowd["a"].session["rooms"] is chat.session["rooms"]
    chat.leave("lobby")
    chat.leave("never joined")  # harmless
    assert chat.session["rooms"] == {"/chat_games"}


def test_rooms_of_two_namespaces_share_the_session():
    socket = make_socket(NAMESPACES)
    feed(socket, "1::/chat", "1::/news")
    socket["/chat"].join("r")
    socket["/news"].join("r")
    assert socket.session["rooms"] == {"/chat_r", "/news_r"}


def test_emit_to_room_reaches_other_members_of_that_room_in_that_namespace(crowd):
    crowd["a"]["/chat"].join("lobby")
    crowd["b"]["/chat"].join("lobby")
    crowd["c"]["/news"].join("lobby")  # same room name, other namespace
    crowd["d"]["/news"].join("lobby")
    received(crowd)

    crowd["a"]["/chat"].emit_to_room("lobby", "hello", 1, {"x": None})
    assert received(crowd) == {
        "a": [],  # not the sender
        "b": ['5::/chat:{"args":[1,{"x":null}],"name":"hello"}'],
        "c": [],  # in lobby of /news only
        "d": [],
        "e": [],
    }

    crowd["c"]["/news"].emit_to_room("lobby", "news")
    assert received(crowd) == {
        "a": [],
        "b": [],
        "c": [],
        "d": ['5::/news:{"name":"news"}'],
        "e": [],
    }


def test_emit_to_room_after_leave(crowd):
    for name in ("a", "b", "c"):
        crowd[name]["/chat"].join("lobby")
    crowd["b"]["/chat"].leave("lobby")
    received(crowd)
    crowd["a"]["/chat"].emit_to_room("lobby", "hi")
    out = received(crowd)
    assert out["b"] == []
    assert out["c"] == ['5::/chat:{"name":"hi"}']


def test_sender_outside_the_room_reaches_its_members(crowd):
    crowd["b"]["/chat"].join("lobby")
    received(crowd)
    crowd["a"]["/chat"].emit_to_room("lobby", "knock")
    out = received(crowd)
    assert out["b"] == ['5::/chat:{"name":"knock"}']
    assert out["a"] == []
    assert out["c"] == []


def test_broadcast_event_includes_the_sender(crowd):
    crowd["a"]["/chat"].broadcast_event("all", "x")
    event = '5::/chat:{"args":["x"],"name":"all"}'
    assert received(crowd) == {"a": [event], "b": [event], "c": [event], "d": [], "e": []}


def test_broadcast_event_not_me_excludes_the_sender(crowd):
    crowd["a"]["/chat"].broadcast_event_not_me("others", 2)
    event = '5::/chat:{"args":[2],"name":"others"}'
    assert received(crowd) == {"a": [], "b": [event], "c": [event], "d": [], "e": []}


def test_broadcast_in_another_namespace(crowd):
    crowd["d"]["/news"].broadcast_event("headline")
    event = '5::/news:{"name":"headline"}'
    assert received(crowd) == {"a": [], "b": [], "c": [event], "d": [event], "e": []}


def test_socket_that_left_the_namespace_gets_nothing(crowd):
    crowd["c"]["/chat"].join("lobby")
    crowd["a"]["/chat"].join("lobby")
    feed(crowd["c"], "0::/chat")  # c leaves /chat, keeps /news
    assert sorted(crowd["c"].active_ns) == ["/news"]
    received(crowd)
    crowd["a"]["/chat"].broadcast_event("after")
    crowd["b"]["/chat"].emit_to_room("lobby", "room after")
    out = received(crowd)
    assert out["c"] == []
    assert out["a"] == ['5::/chat:{"name":"after"}', '5::/chat:{"name":"room after"}']


def test_dead_socket_gets_nothing(crowd):
    crowd["b"].kill(detach=True)
    received(crowd)
    crowd["a"]["/chat"].broadcast_event("x")
    out = received(crowd)
    assert out["b"] == []
    assert out["c"] == ['5::/chat:{"name":"x"}']
