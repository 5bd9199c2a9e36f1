"""BaseNamespace.authorize_connect: the reference's ``of('/x').authorization(fn)``."""

from __future__ import annotations

from typing import Any

from socketio.namespace import BaseNamespace

from .fake_server import feed, make_socket, sent

SEEN: list[tuple[dict[str, Any], str]] = []


class Open(BaseNamespace):
    def on_echo(self, *args: Any) -> Any:
        return args


class Guarded(BaseNamespace):
    made = 0

    @staticmethod
    def authorize_connect(environ: dict[str, Any], query: str) -> bool:
        SEEN.append((environ, query))
        return "token=ok" in query or "token=ok" in environ.get("QUERY_STRING", "")

    def initialize(self) -> None:
        type(self).made += 1

    def on_echo(self, *args: Any) -> Any:
        return args


def _socket():
    SEEN.clear()
    Guarded.made = 0
    return make_socket({"": Open, "/open": Open, "/vip": Guarded})


def test_refused_connect_answers_7_reason_2_without_echo_nor_namespace():
    socket = _socket()
    feed(socket, "1::/vip")
    assert sent(socket) == ["7::/vip:2"]
    assert "/vip" not in socket.active_ns
    assert Guarded.made == 0
    assert SEEN == [(socket.environ, "")]
    # the socket and its other namespaces live on
    feed(socket, "1::/open", '5:1+:/open:{"name":"echo","args":["hi"]}')
    assert sent(socket) == ["1::/open", '6::/open:1+["hi"]']
    assert socket.connected


def test_the_connect_query_and_the_environ_reach_the_hook():
    socket = _socket()
    feed(socket, "1::/vip:token=ok")
    assert sent(socket) == ["1::/vip:token=ok"]
    assert SEEN == [(socket.environ, "token=ok")]
    assert "/vip" in socket.active_ns
    # once entered, the hook is not consulted again
    feed(socket, '5:2+:/vip:{"name":"echo","args":[1]}')
    assert sent(socket) == ["6::/vip:2+[1]"]
    assert len(SEEN) == 1


def test_the_handshake_query_in_the_environ_is_enough():
    socket = _socket()
    socket.environ["QUERY_STRING"] = "token=ok&t=1"
    feed(socket, "1::/vip")
    assert sent(socket) == ["1::/vip"]
    assert Guarded.made == 1


def test_skipping_the_connect_gets_no_further():
    socket = _socket()
    feed(socket, '5:3:/vip:{"name":"echo","args":[1]}', "0::/vip")
    assert sent(socket) == ["7::/vip:2"]  # not even the automatic ack
    assert "/vip" not in socket.active_ns
    assert Guarded.made == 0


def test_without_the_hook_nothing_changes():
    socket = _socket()
    assert Open.authorize_connect is None
    feed(socket, "1::/open")
    assert sent(socket) == ["1::/open"]
