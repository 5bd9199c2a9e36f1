"""The Python ``socketIO-client`` 0.5 (its last line that speaks Socket.IO 0.9) against our server.

Teams run it in the field from scripts and devices. It reads the wire its own
way: it splits a JSONP body on the frame marker before it unescapes the script
text (so the markers must be the character itself, as the reference server
writes them), and it answers an event whose last argument is a callback with
an ack. Every test runs over each transport it has.

Its ``wait(seconds)`` waits out the whole time on the polling transports, so
each test ends with an emit that asks for an ack and waits for that callback:
the server answers in order, so whatever was sent before it has been handled.
"""

from __future__ import annotations

import logging

import pytest
from socketIO_client import BaseNamespace, SocketIO, find_callback

from tests.client09.waiting import wait_for

PAYLOAD = {"xxx": "yyy", "text": "é ☃ 😀 </script> \u2028"}
TRANSPORTS = ["websocket", "xhr-polling", "jsonp-polling"]


class Client(SocketIO):
    """The client, less its ``__del__``.

    Its ``__del__`` disconnects, and disconnecting a client that is not
    connected first connects it again (a new handshake), waiting for ever if
    the server is gone, as it is when the interpreter exits after the tests.
    The tests disconnect their clients themselves.
    """

    def __del__(self) -> None:
        pass


class Recorder(BaseNamespace):
    """Keeps each event's arguments, and acks events that ask for one."""

    def initialize(self) -> None:
        self.events: list[tuple[str, tuple]] = []
        self.messages: list[object] = []

    def on_event(self, event: str, *args: object) -> None:
        callback, args = find_callback(args)
        self.events.append((event, args))
        if callback:
            callback("answer from", event)

    def on_message(self, data: object, *rest: object) -> None:
        self.messages.append(data)


@pytest.fixture(params=TRANSPORTS)
def transport(request):
    return request.param


@pytest.fixture
def client(live_server, transport):
    logging.getLogger("socketIO_client").setLevel(logging.INFO)
    io = Client("127.0.0.1", live_server.port, transports=[transport])
    yield io
    if io.connected:
        io.disconnect()


def settle(io: SocketIO, namespace: BaseNamespace) -> None:
    """Wait until the server has answered everything sent on ``namespace`` so far."""
    done: list[tuple] = []
    namespace.emit("echo", "settled", callback=lambda *args: done.append(args))
    io.wait_for_callbacks(seconds=10)
    assert done == [("settled",)]


def test_emit_with_callback(client):
    chat = client.define(Recorder, "/chat")
    got = []
    chat.emit("echo", PAYLOAD, [1, 2], callback=lambda *args: got.append(args))
    client.wait_for_callbacks(seconds=10)
    assert got == [(PAYLOAD, [1, 2])]
    assert chat.events[0] == ("welcome", ("/chat",))


def test_server_emits_with_callback_and_gets_the_ack(client):
    chat = client.define(Recorder, "/chat")
    chat.emit("ask", "question?")
    settle(client, chat)  # the question is in, and acked
    settle(client, chat)  # the server has handled the ack
    # the server's callback re-emits what the client's ack carried
    assert ("question", ("question?",)) in chat.events
    assert ("answered", (["answer from", "question"],)) in chat.events


def test_message_and_json_with_callbacks(client):
    chat = client.define(Recorder, "/chat")
    got = []
    chat.message("plain text", callback=lambda *args: got.append(args))
    chat.message(PAYLOAD, callback=lambda *args: got.append(args))
    client.wait_for_callbacks(seconds=10)
    settle(client, chat)
    assert got == [("plain text",), (PAYLOAD,)]
    # recv_message / recv_json echo the data back as a message
    assert chat.messages == ["plain text", PAYLOAD]


def test_namespaces_are_kept_apart(client, live_server):
    chat = client.define(Recorder, "/chat")
    news = client.define(Recorder, "/news")
    got = []
    news.emit("echo", PAYLOAD, callback=lambda *args: got.append(("news", args)))
    chat.emit("echo", "chat", callback=lambda *args: got.append(("chat", args)))
    client.wait_for_callbacks(seconds=10)
    assert sorted(got) == [("chat", ("chat",)), ("news", (PAYLOAD,))]
    assert news.events == []  # the welcome is /chat's alone
    assert chat.events == [("welcome", ("/chat",))]


def test_many_packets_in_one_polling_answer(client):
    """Several answers queued while no GET is held come back framed in one body."""
    chat = client.define(Recorder, "/chat")
    for n in range(5):
        chat.emit("to_room", f"room-{n}", PAYLOAD)  # not in the room: nothing comes back
        chat.emit("ask", n)
    settle(client, chat)
    settle(client, chat)
    asked = [args for event, args in chat.events if event == "question"]
    assert asked == [(n,) for n in range(5)]
    answered = [args for event, args in chat.events if event == "answered"]
    assert answered == [(["answer from", "question"],)] * 5


def test_disconnect_reaches_the_server(live_server, transport):
    io = Client("127.0.0.1", live_server.port, transports=[transport])
    chat = io.define(Recorder, "/chat")
    settle(io, chat)
    sessid = io._transport._url.rsplit("/", 1)[-1]  # .../<transport>/<sessid>
    assert sessid in live_server.sockets()
    io.disconnect()
    assert not io.connected
    wait_for(lambda: sessid not in live_server.sockets(), what="the session to leave")
    hooks = [(kind, ns) for kind, ns, sid, _ in live_server.events() if sid == sessid]
    assert ("recv_connect", "/chat") in hooks
    assert ("recv_disconnect", "/chat") in hooks
