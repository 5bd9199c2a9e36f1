"""A refused client cannot make ``authorize_connect`` run at its packet rate (an attack test)."""

from __future__ import annotations

from typing import Any

from socketio.namespace import BaseNamespace

from .fake_server import feed, make_socket, sent


class Counted(BaseNamespace):
    calls = 0
    allow = False

    @classmethod
    def authorize_connect(cls, environ: dict[str, Any], query: str) -> bool:
        cls.calls += 1
        return cls.allow

    def on_echo(self, *args: Any) -> Any:
        return args


def _socket():
    Counted.calls = 0
    Counted.allow = False
    return make_socket({"": BaseNamespace, "/vip": Counted, "/other": Counted})


def test_packets_after_a_refusal_do_not_call_the_hook_again():
    socket = _socket()
    flood = [f'5:{n}+:/vip:{{"name":"echo","args":[{n}]}}' for n in range(1, 31)]
    feed(socket, "1::/vip", *flood)
    assert Counted.calls == 1  # (before: 31, one per packet)
    # the wire is unchanged: each packet still gets the refusal
    assert sent(socket) == ["7::/vip:2"] * 31
    assert "/vip" not in socket.active_ns


def test_skipping_the_connect_is_refused_once_then_remembered():
    socket = _socket()
    feed(socket, *['5::/vip:{"name":"echo"}'] * 25)
    assert Counted.calls == 1
    assert socket._refused == {"/vip"}


def test_the_next_connect_asks_again():
    socket = _socket()
    feed(socket, "1::/vip", '5::/vip:{"name":"echo"}')
    assert Counted.calls == 1
    Counted.allow = True  # (the app's answer changed: a login, say)
    feed(socket, "1::/vip", '5:1+:/vip:{"name":"echo","args":[1]}')
    assert Counted.calls == 2
    assert sent(socket) == ["7::/vip:2", "7::/vip:2", "1::/vip", "6::/vip:1+[1]"]
    assert socket._refused == set()


def test_each_namespace_is_remembered_on_its_own():
    socket = _socket()
    feed(socket, "1::/vip", "1::/other", *['5::/vip:{"name":"x"}', '5::/other:{"name":"x"}'] * 9)
    assert Counted.calls == 2
    assert socket._refused == {"/vip", "/other"}


def test_only_names_the_application_defines_are_remembered():
    socket = _socket()
    feed(socket, *[f"1::/ns{n}" for n in range(25)], "1::/vip")
    assert socket._refused == {"/vip"}


def test_namespaces_without_a_hook_keep_nothing():
    socket = make_socket({"": BaseNamespace, "/open": BaseNamespace})
    feed(socket, "1::/open", "0::/open", "1::/open")
    assert socket._refused is None
