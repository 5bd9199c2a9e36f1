"""socketio.testing: the in-process test client, driving real namespaces."""

from __future__ import annotations

import gevent
import pytest

from socketio import socketio_manage
from socketio.exceptions import ConfigError
from socketio.mixins import BroadcastMixin, RoomsMixin
from socketio.namespace import BaseNamespace
from socketio.testing import FakeServer, HandlerTimeout, SocketIOTestClient

LOG: list[tuple] = []


class ChatNamespace(BaseNamespace, RoomsMixin, BroadcastMixin):
    def initialize(self):
        self.nick = "anonymous"

    def recv_connect(self):
        LOG.append(("connect", self.socket.sessid))
        self.emit("welcome", self.environ.get("HTTP_X_USER", "nobody"))

    def recv_disconnect(self):
        LOG.append(("disconnect", self.socket.sessid))
        self.disconnect(silent=True)

    def on_nick(self, nick):
        self.nick = nick
        self.session["nick"] = nick
        return nick

    def on_say(self, text):
        self.emit("said", self.nick, text)
        return "ok"

    def on_pair(self):
        return 1, "two"

    def on_join(self, room):
        self.join(room)

    def on_to_room(self, room, text):
        self.emit_to_room(room, "room", self.nick, text)

    def on_shout(self, text):
        self.broadcast_event("shout", text)

    def on_ask(self):
        self.emit("question", "name?", callback=lambda answer: self.emit("answered", answer))

    def on_ping_me(self):
        self.send("ping", callback=lambda: self.emit("pinged"))

    def on_boom(self):
        raise RuntimeError("boom")

    def on_stream(self, count):
        def job():
            for i in range(count):
                self.emit("tick", i)
                gevent.sleep(0.01)

        self.spawn(job)

    def on_slow(self):
        gevent.sleep(1)

    def on_leave_me(self):
        self.disconnect()

    def on_kill(self):
        self.socket.kill(detach=True)

    def recv_message(self, data):
        self.send("echo:" + data)

    def recv_json(self, data):
        self.send({"echo": data}, json=True)


class GlobalNamespace(BaseNamespace):
    def on_hello(self):
        return "hi from global"


@pytest.fixture
def client():
    with SocketIOTestClient({"/chat": ChatNamespace}) as client:
        yield client


def test_connect_runs_hooks_and_reports_connection(client):
    assert not client.is_connected("/chat")
    assert client.connect("/chat")
    assert client.is_connected("/chat")
    assert client.is_connected()
    assert ("connect", client.sessid) in LOG
    [welcome] = client.get_received("/chat")
    assert welcome["type"] == "event"
    assert welcome["name"] == "welcome"
    assert welcome["args"] == ["nobody"]
    assert isinstance(client.namespace("/chat"), ChatNamespace)


def test_environ_reaches_namespaces():
    with SocketIOTestClient({"/chat": ChatNamespace}, environ={"HTTP_X_USER": "ann"}) as c:
        c.connect("/chat")
        assert c.get_received("/chat")[0]["args"] == ["ann"]
        assert c.namespace("/chat").environ["PATH_INFO"] == f"/socket.io/1/websocket/{c.sessid}"


def test_emit_without_and_with_callback(client):
    client.connect("/chat")
    client.get_received()
    assert client.emit("nick", "ann", namespace="/chat") is None
    assert client.session["nick"] == "ann"
    assert client.emit("say", "hello", namespace="/chat", callback=True) == ["ok"]
    received = client.get_received("/chat")
    assert [(p["name"], p["args"]) for p in received] == [("said", ["ann", "hello"])]
    assert client.get_received() == []


def test_callable_callback_and_tuple_return(client):
    got = []
    assert client.emit("pair", namespace="/chat", callback=lambda *a: got.append(a)) == [1, "two"]
    assert got == [(1, "two")]


def test_messages_and_json(client):
    client.connect("/chat")
    client.get_received()
    client.send("hi", namespace="/chat")
    client.send([1, 2], namespace="/chat", json=True)
    assert [(p["type"], p["data"]) for p in client.get_received("/chat")] == [
        ("message", "echo:hi"),
        ("json", {"echo": [1, 2]}),
    ]
    assert client.send("x", namespace="/chat", callback=True) == []


def test_server_callbacks_are_answered(client):
    client.emit("ask", namespace="/chat")
    [question] = client.get_received("/chat")
    assert question["name"] == "question"
    assert question["ack"] == "data"
    client.ack(question, "Ann")
    [answered] = client.get_received("/chat")
    assert (answered["name"], answered["args"]) == ("answered", ["Ann"])
    # A plain ack request (send with a callback) is answered automatically.
    client.emit("ping_me", namespace="/chat")
    assert [p.get("name", p.get("data")) for p in client.get_received("/chat")] == [
        "ping",
        "pinged",
    ]


def test_errors_reported_to_the_client_are_received(client):
    client.emit("nope", namespace="/chat")
    client.emit("bad-name", namespace="/chat")
    client.emit("x", namespace="/unknown")
    errors = [tuple(p["args"]) for p in client.get_received() if p["name"] == "error"]
    assert errors[0] == ("no_such_method", 'The method "on_nope" was not found')
    assert errors[1][0] == "unallowed_event_name"
    assert errors[2][0] == "no_such_namespace"


def test_handler_exceptions_are_raised_in_the_test(client):
    with pytest.raises(RuntimeError, match="boom"):
        client.emit("boom", namespace="/chat")
    assert client.emit("say", "still alive", namespace="/chat", callback=True) == ["ok"]


def test_raise_errors_false_only_logs(caplog):
    with SocketIOTestClient({"/chat": ChatNamespace}, raise_errors=False) as c:
        assert c.emit("boom", namespace="/chat", callback=True) is None
    assert "boom" in caplog.text


def test_spawned_jobs_run_when_the_test_yields(client):
    client.emit("stream", 3, namespace="/chat")
    gevent.sleep(0.1)
    assert [p["args"] for p in client.get_received("/chat")] == [[0], [1], [2]]


def test_slow_handler_times_out():
    with SocketIOTestClient({"/chat": ChatNamespace}, timeout=0.2) as c:
        with pytest.raises(HandlerTimeout):
            c.emit("slow", namespace="/chat")


def test_rooms_and_broadcast_between_clients():
    server = FakeServer()
    ann, bob, cid = (SocketIOTestClient({"/chat": ChatNamespace}, server=server) for _ in range(3))
    for c, nick in ((ann, "ann"), (bob, "bob"), (cid, "cid")):
        c.connect("/chat")
        c.emit("nick", nick, namespace="/chat")
        c.get_received()
    ann.emit("join", "r1", namespace="/chat")
    bob.emit("join", "r1", namespace="/chat")
    cid.emit("join", "r2", namespace="/chat")
    ann.emit("to_room", "r1", "hi r1", namespace="/chat")
    assert [p["args"] for p in bob.get_received("/chat")] == [["ann", "hi r1"]]
    assert ann.get_received() == []
    assert cid.get_received() == []
    cid.emit("shout", "all", namespace="/chat")
    for c in (ann, bob, cid):
        assert [p["args"] for p in c.get_received("/chat")] == [["all"]]
    bob.disconnect()
    assert sorted(server.sockets) == sorted([ann.sessid, cid.sessid])
    cid.emit("shout", "again", namespace="/chat")
    assert len(ann.get_received("/chat")) == 1
    for c in (ann, bob, cid):
        c.close()
    assert server.sockets == {}


def test_leaving_the_last_namespace_ends_the_socket(client):
    client.connect("/chat")
    client.disconnect("/chat")
    assert ("disconnect", client.sessid) in LOG
    assert not client.is_connected("/chat")
    assert not client.is_connected()
    with pytest.raises(ConfigError, match="disconnected"):
        client.emit("say", "x", namespace="/chat")


def test_global_namespace_keeps_the_socket_open():
    with SocketIOTestClient({"": GlobalNamespace, "/chat": ChatNamespace}) as c:
        assert c.emit("hello", callback=True) == ["hi from global"]
        c.connect("/chat")
        c.disconnect("/chat")
        assert c.is_connected()
        assert not c.is_connected("/chat")
        c.disconnect()
        assert not c.is_connected()
        assert c.socket.state == "DISCONNECTING"
        assert c.socket.ended.is_set()


def test_server_side_disconnects(client):
    client.connect("/chat")
    client.emit("leave_me", namespace="/chat")
    assert not client.is_connected("/chat")
    assert not client.is_connected()
    other = SocketIOTestClient({"": GlobalNamespace, "/chat": ChatNamespace})
    other.connect("/chat")
    other.emit("kill", namespace="/chat")
    assert not other.is_connected()
    assert other.socket.sessid not in other.server.sockets


def test_wsgi_app_form_and_request():
    seen = []

    class Echo(BaseNamespace):
        def on_who(self):
            return self.request["user"]

    def app(environ, start_response):
        seen.append(environ["PATH_INFO"])
        if environ["PATH_INFO"].startswith("/io/"):
            socketio_manage(environ, {"/echo": Echo}, request={"user": "ann"})
            return []
        start_response("404 Not Found", [])
        return [b""]

    server = FakeServer(resource="io")
    with SocketIOTestClient(app=app, server=server) as c:
        assert c.emit("who", namespace="/echo", callback=True) == ["ann"]
    assert seen == [f"/io/1/websocket/{c.sessid}"]
    with pytest.raises(ConfigError, match="did not call socketio_manage"):
        SocketIOTestClient(app=app)


def test_arguments_are_checked():
    with pytest.raises(ConfigError):
        SocketIOTestClient()
    with pytest.raises(ConfigError):
        SocketIOTestClient({"": GlobalNamespace}, app=lambda e, s: [])


def test_a_flask_app_under_the_test_client():
    """The test client drives a framework app the same way: here Flask's view calls socketio_manage."""
    from flask import Flask, Response, request

    app = Flask(__name__)

    class Greeter(BaseNamespace):
        def on_greet(self):
            return f"hello {self.request.args.get('name', 'nobody')}"

    @app.route("/socket.io/<path:rest>")
    def socketio_view(rest):
        socketio_manage(request.environ, {"/greet": Greeter}, request._get_current_object())
        return Response()

    with SocketIOTestClient(app=app, environ={"QUERY_STRING": "name=ann"}) as c:
        assert c.emit("greet", namespace="/greet", callback=True) == ["hello ann"]


def test_fake_server_takes_a_manager_url_and_closes_sessions():
    server = FakeServer(manager="memory://", heartbeat_interval=5)
    assert server.config.heartbeat_interval == 5
    a = SocketIOTestClient({"/chat": ChatNamespace}, server=server)
    b = SocketIOTestClient({"/chat": ChatNamespace}, server=server)
    for c in (a, b):
        c.connect("/chat")
        c.get_received()  # the welcome
    a.emit("shout", "hi", namespace="/chat")
    assert [p["args"] for p in b.get_received("/chat")] == [["hi"]]
    server.close()
    assert server.sockets == {}
    assert not a.is_connected()
    assert not b.is_connected()
