"""Who is connected: :mod:`socketio.listing` and the namespaces' listing methods.

Run on a real (unstarted) :class:`~socketio.server.SocketIOServer`, whose
manager answers, and on a bare fake server without a manager, where the
answers are read from the sockets (``active_ns``, ``session['rooms']``).
"""

from __future__ import annotations

import pytest

from socketio import listing
from socketio.exceptions import ConfigError, CountUnavailable, SocketIOError
from socketio.manager import BaseManager, MemoryManager
from socketio.membership import ManagerQueries
from socketio.mixins import BroadcastMixin, RoomsMixin
from socketio.namespace import BaseNamespace
from socketio.redis_counts import CountingManager, count_interval
from socketio.server import SocketIOServer

from .fake_server import FakeServer, feed, make_socket, sent


class Chat(BaseNamespace, RoomsMixin, BroadcastMixin):
    pass


class News(BaseNamespace, RoomsMixin):
    pass


NAMESPACES = {"": BaseNamespace, "/chat": Chat, "/news": News}


def app(environ, start_response):  # never called: the server is not started
    raise AssertionError


@pytest.fixture(params=["server", "fake"])
def server(request):
    if request.param == "server":
        srv = SocketIOServer(("127.0.0.1", 0), app, policy_server=False)
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
    """a, b, c in /chat (a, b in lobby, c in games); c, d in /news (d in lobby there)."""
    sockets = {
        "a": new_socket(server, "/chat"),
        "b": new_socket(server, "/chat"),
        "c": new_socket(server, "/chat", "/news"),
        "d": new_socket(server, "/news"),
    }
    sockets["a"]["/chat"].join("lobby")
    sockets["b"]["/chat"].join("lobby")
    sockets["c"]["/chat"].join("games")
    sockets["d"]["/news"].join("lobby")
    return sockets


def names(crowd, sockets) -> set[str]:
    by_id = {socket.sessid: name for name, socket in crowd.items()}
    return {by_id[socket.sessid] for socket in sockets}


def test_clients_of_a_namespace_and_of_a_room(crowd):
    chat = crowd["a"]["/chat"]
    assert names(crowd, chat.clients()) == {"a", "b", "c"}
    assert names(crowd, chat.clients("lobby")) == {"a", "b"}
    assert names(crowd, chat.clients("games")) == {"c"}
    assert chat.clients("nobody here") == []
    # the same room name in another namespace is another room
    assert names(crowd, crowd["d"]["/news"].clients("lobby")) == {"d"}
    # they are the sockets themselves: their namespace instances are at hand
    for socket in chat.clients("lobby"):
        assert socket is crowd[names(crowd, [socket]).pop()]
        assert isinstance(socket.active_ns["/chat"], Chat)


def test_counts_are_exact_and_local(crowd):
    chat = crowd["b"]["/chat"]
    assert chat.count_clients() == 3
    assert chat.count_clients("lobby") == 2
    assert chat.count_clients("nowhere") == 0
    # one process: the cluster is this process
    assert chat.cluster_count("lobby") == 2
    assert crowd["c"]["/news"].cluster_count() == 2


def test_rooms_of_this_socket_and_of_another_without_the_prefix(crowd):
    a = crowd["a"]["/chat"]
    a.join("games")
    assert a.rooms_of() == {"lobby", "games"}
    assert a.session["rooms"] == {"/chat_lobby", "/chat_games"}  # unchanged, for 0.3 code
    assert a.rooms_of(crowd["c"].sessid) == {"games"}
    assert a.rooms_of(crowd["d"].sessid) == set()  # d is not in /chat
    assert a.rooms_of("no such session") == set()
    # a copy: changing it changes nothing
    a.rooms_of().add("x")
    assert a.rooms_of() == {"lobby", "games"}


def test_rooms_of_a_namespace_exist_while_someone_is_in_them(crowd):
    chat = crowd["a"]["/chat"]
    assert chat.all_rooms() == {"lobby", "games"}
    assert crowd["d"]["/news"].all_rooms() == {"lobby"}
    crowd["c"]["/chat"].leave("games")
    assert chat.all_rooms() == {"lobby"}
    crowd["a"]["/chat"].leave("lobby")
    crowd["b"].kill(detach=True)
    assert chat.all_rooms() == set()
    assert names(crowd, chat.clients()) == {"a", "c"}


def test_a_socket_that_leaves_a_namespace_leaves_its_lists(crowd, server):
    feed(crowd["c"], "0::/chat")
    assert names(crowd, listing.clients(server, "/chat")) == {"a", "b"}
    assert names(crowd, listing.clients(server, "/news")) == {"c", "d"}
    assert listing.rooms_of(server, crowd["c"].sessid, "/chat") == set()


def test_the_server_level_functions_by_namespace_name(crowd, server):
    assert names(crowd, listing.clients(server, "/chat", room="lobby")) == {"a", "b"}
    ids = listing.session_ids(server, "/chat")
    assert ids == {crowd[n].sessid for n in "abc"}
    assert listing.rooms_of(server, crowd["d"].sessid, "/news") == {"lobby"}
    assert listing.all_rooms(server, "/chat") == {"lobby", "games"}
    assert listing.count(server, "/news") == 2
    assert listing.cluster_count(server, "/chat", "lobby") == 2
    assert listing.clients(server, "/nowhere") == []
    assert listing.count(server, "/nowhere", "x") == 0


def test_a_name_like_a_prefix_does_not_confuse_the_rooms(server):
    socket = new_socket(server, "/chat", "/chat_x")
    socket["/chat"].join("x_y")
    assert listing.rooms_of(server, socket.sessid, "/chat") == {"x_y"}
    assert listing.all_rooms(server, "/chat") == {"x_y"}


def test_the_memory_manager_queries():
    manager = MemoryManager()
    manager.add_socket("s1", "/chat")
    manager.add_socket("s2", "/chat")
    manager.join("s1", "/chat", "r")
    manager.join("s2", "/chat", "r")
    manager.join("s2", "/chat", "q")
    assert manager.rooms("/chat") == {"r", "q"}
    assert manager.count("/chat") == 2
    assert manager.count("/chat", "q") == 1
    assert manager.cluster_count("/chat", "r") == 2
    manager.remove_socket("s2")
    assert manager.rooms("/chat") == {"r"}
    assert manager.count("/other") == 0
    assert manager.rooms("/other") == set()


def test_a_manager_gets_the_queries_from_its_two_lookups():
    class Minimal(BaseManager):
        def members(self, endpoint, room=None):
            return {"s1", "s2"} if room in (None, "r") else set()

        def rooms_of(self, sessid, endpoint):
            return {"r"}

    manager = Minimal()
    assert isinstance(manager, ManagerQueries)
    assert manager.rooms("/x") == {"r"}
    assert manager.count("/x", "r") == 2
    assert manager.cluster_count("/x") == 2
    with pytest.raises(NotImplementedError):
        ManagerQueries().members("/x")


def test_count_unavailable_names_what_was_counted():
    exc = CountUnavailable("no Redis", endpoint="/chat", room="lobby")
    assert isinstance(exc, SocketIOError)
    assert not isinstance(exc, ConfigError)
    assert (exc.endpoint, exc.room, str(exc), exc.message) == (
        "/chat",
        "lobby",
        "no Redis",
        "no Redis",
    )


def test_a_pubsub_manager_without_counts_says_how_to_turn_them_on():
    manager = CountingManager()
    manager.add_socket("s1", "/chat")
    manager.join("s1", "/chat", "r")
    assert manager.local_counts() == {("/chat", None): 1, ("/chat", "r"): 1}
    assert manager.count("/chat", "r") == 1  # the local count needs nothing
    with pytest.raises(ConfigError, match=r"count_interval=2"):
        manager.cluster_count("/chat")


@pytest.mark.parametrize(
    ("given", "text", "expected"),
    [(None, None, None), (2, None, 2.0), (None, "0.5", 0.5), (1, "9", 1.0)],
)
def test_count_interval_keyword_wins_over_the_url(given, text, expected):
    assert count_interval(given, text) == expected


@pytest.mark.parametrize(("given", "text"), [(0, None), (-1, None), (True, None), (None, "x")])
def test_a_bad_count_interval_is_a_config_error(given, text):
    with pytest.raises(ConfigError, match="count_interval"):
        count_interval(given, text)


@pytest.mark.parametrize(
    "name", ["clients", "rooms_of", "all_rooms", "count_clients", "cluster_count", "session_ids"]
)
def test_a_client_reaches_no_listing_method_by_naming_it(server, monkeypatch, name):
    """Events call ``on_<name>`` only: a list is as exposed as the application makes it."""
    socket = new_socket(server, "/chat")
    socket["/chat"].join("r")

    def refuse(*args, **kwargs):
        raise AssertionError(f"a client reached listing.{name}")

    for function in ("clients", "session_ids", "rooms_of", "all_rooms", "count", "cluster_count"):
        monkeypatch.setattr(listing, function, refuse)
    feed(socket, f'5:1+:/chat:{{"name":"{name}","args":["r"]}}')
    # 0.3's answer to an event without a handler, and nothing listed
    error = f'"args":["no_such_method","The method \\"on_{name}\\" was not found"]'
    assert sent(socket) == [f'5::/chat:{{{error},"name":"error"}}', "6::/chat:1+[null]"]
    assert "/chat" in socket.active_ns  # the socket goes on
