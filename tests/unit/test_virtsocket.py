"""``socketio.virtsocket.Socket``: states, queues, acks and the receiver loop.

No network: a fake server object with a ``sockets`` dict, as api.md allows.
"""

from __future__ import annotations

import json
import re

import gevent
import gevent.event
import gevent.queue
import pytest

import socketio.sessionid as sessionid
from socketio.namespace import BaseNamespace
from socketio.virtsocket import Socket, default_error_handler

from .fake_server import FakeServer, error_event, feed, make_socket, sent, settle


class Echo(BaseNamespace):
    created: list = []

    def __init__(self, environ, ns_name, request=None):
        super().__init__(environ, ns_name, request=request)
        Echo.created.append((environ, ns_name, request))

    def on_echo(self, *args):
        return args

    def on_queue_seen(self):
        """Reports what the client had been sent when this handler started."""
        self.emit("seen", list(self.socket.client_queue.queue))

    def on_kill(self):
        self.socket.kill(detach=True)


# -- states --------------------------------------------------------------------


def test_constants():
    assert Socket.STATE_CONNECTING == "CONNECTING"
    assert Socket.STATE_CONNECTED == "CONNECTED"
    assert Socket.STATE_DISCONNECTING == "DISCONNECTING"
    assert Socket.STATE_DISCONNECTED == "DISCONNECTED"
    assert Socket.GLOBAL_NS == ""


def test_initial_attributes():
    server = FakeServer()
    socket = Socket(server, {})
    assert socket.server is server
    assert socket.state == "NEW"
    assert not socket.connected
    assert socket.session == {}
    assert socket.hits == 0
    assert socket.heartbeats == 0
    assert socket.connection_established is False
    assert socket.ack_callbacks == {}
    assert socket.ack_counter == 0
    assert socket.request is None
    assert socket.environ is None
    assert socket.namespaces == {}
    assert socket.active_ns == {}
    assert socket.jobs == []
    assert socket.error_handler is default_error_handler
    assert socket.config["heartbeat_interval"] == 25
    assert isinstance(socket.client_queue, gevent.queue.Queue)
    assert isinstance(socket.server_queue, gevent.queue.Queue)
    assert callable(socket.json_loads) and callable(socket.json_dumps)


def test_new_then_connected_on_first_hit():
    socket = make_socket(connected=False)
    assert socket.state == "NEW"
    socket.incr_hits()
    assert socket.state == Socket.STATE_CONNECTED
    assert socket.connected
    assert socket.hits == 1
    socket.incr_hits()
    assert socket.hits == 2
    assert socket.connected


def test_kill_of_connected_socket_goes_through_disconnecting():
    seen = []

    class NS(BaseNamespace):
        def recv_disconnect(self):
            seen.append((self.ns_name, self.socket.state))
            self.disconnect(silent=True)

    socket = make_socket({"/a": NS, "/b": NS})
    feed(socket, "1::/a", "1::/b")
    socket.kill()
    assert sorted(seen) == [("/a", "DISCONNECTING"), ("/b", "DISCONNECTING")]
    # it stays DISCONNECTING, as the original's did (nothing sets DISCONNECTED)
    assert socket.state == Socket.STATE_DISCONNECTING
    assert socket.ended.is_set()
    assert not socket.connected
    assert socket.active_ns == {}
    assert socket.sessid in socket.server.sockets  # not detached
    socket.kill()  # twice is harmless
    assert socket.state == Socket.STATE_DISCONNECTING
    assert socket.ended.is_set()


class SocketsOnly:
    """A server as the original's own tests mock it: a ``sockets`` dict, nothing else."""

    def __init__(self) -> None:
        self.sockets: dict = {}


@pytest.mark.parametrize("end", ["kill", "disconnect"])
def test_a_socket_set_connected_by_hand_ends_as_the_original_did(end):
    socket = Socket(SocketsOnly(), {})
    socket.state = "CONNECTED"
    socket.active_ns = {"test": BaseNamespace({"socketio": socket}, "test")}
    getattr(socket, end)()
    assert socket.state == "DISCONNECTING"
    assert socket.active_ns == {}
    assert socket.ended.is_set()


def test_kill_detach_removes_it_from_server_sockets():
    socket = make_socket()
    server = socket.server
    assert server.sockets == {socket.sessid: socket}
    socket.kill(detach=True)
    assert server.sockets == {}
    assert socket.state == Socket.STATE_DISCONNECTING
    assert socket.ended.is_set()


def test_kill_of_new_socket():
    socket = make_socket(connected=False)
    socket.kill(detach=True)
    assert socket.state == Socket.STATE_DISCONNECTING
    assert socket.ended.is_set()
    assert socket.server.sockets == {}


def test_kill_clears_ack_callbacks_and_kills_jobs():
    socket = make_socket()
    socket._save_ack_callback(1, lambda: None)
    job = socket.spawn(gevent.sleep, 10)
    assert socket.jobs == [job]
    socket.kill()
    settle()
    assert socket.ack_callbacks == {}
    assert job.dead


def test_detach():
    socket = make_socket()
    socket.detach()
    assert socket.server.sockets == {}
    socket.detach()  # not there any more: harmless


def test_remove_namespace_of_the_last_one_kills_and_detaches():
    socket = make_socket({"/a": BaseNamespace})
    feed(socket, "1::/a")
    socket.remove_namespace("/a")
    assert socket.active_ns == {}
    assert socket.state == Socket.STATE_DISCONNECTING
    assert socket.ended.is_set()
    assert socket.server.sockets == {}


def test_disconnect_disconnects_every_namespace():
    socket = make_socket({"/a": BaseNamespace, "/b": BaseNamespace})
    feed(socket, "1::/a", "1::/b")
    sent(socket)
    socket.disconnect()
    out = sent(socket)
    assert "0::/a" in out and "0::/b" in out
    assert socket.active_ns == {}


def test_heartbeat_counts():
    socket = make_socket()
    socket.heartbeat()
    socket.heartbeat()
    assert socket.heartbeats == 2


# -- queues ----------------------------------------------------------------------


def test_client_and_server_queues():
    socket = make_socket()
    socket.put_client_msg("1::")
    socket.put_client_msg("2::")
    assert socket.get_client_msg() == "1::"
    assert socket.get_client_msg(block=False) == "2::"
    with pytest.raises(gevent.queue.Empty):
        socket.get_client_msg(timeout=0.01)

    before = socket.heartbeats
    socket.put_server_msg("5:::{}")
    assert socket.heartbeats == before + 1  # client activity
    assert socket.get_server_msg() == "5:::{}"
    with pytest.raises(gevent.queue.Empty):
        socket.get_server_msg(block=False)


def test_get_multiple_client_msgs():
    socket = make_socket()
    for msg in ("a", "b", "c"):
        socket.put_client_msg(msg)
    assert socket.get_multiple_client_msgs() == ["a", "b", "c"]
    with pytest.raises(gevent.queue.Empty):
        socket.get_multiple_client_msgs(timeout=0.01)
    # it waits for the first one
    gevent.spawn_later(0.02, socket.put_client_msg, "late")
    assert socket.get_multiple_client_msgs(timeout=1) == ["late"]


def test_slow_consumer_is_disconnected():
    socket = make_socket({"/a": BaseNamespace}, config={"max_queue_size": 3})
    server = socket.server
    for i in range(3):
        socket.put_client_msg(f"3:::{i}")
    assert socket.connected
    socket.put_client_msg("3:::overflow")
    settle()
    assert socket.state == Socket.STATE_DISCONNECTING
    assert socket.ended.is_set()
    assert socket.sessid not in server.sockets
    assert "3:::overflow" not in list(socket.client_queue.queue)


# -- acks ------------------------------------------------------------------------


def test_ack_bookkeeping():
    socket = make_socket()
    assert [socket._get_next_msgid() for _ in range(3)] == [1, 2, 3]
    assert socket.ack_counter == 3

    def cb():
        pass

    def other():
        pass

    assert socket._save_ack_callback(5, cb) is not False
    assert socket._save_ack_callback(5, other) is False  # an id is used once
    assert socket.ack_callbacks == {5: cb}
    assert socket._pop_ack_callback(5) is cb
    assert socket._pop_ack_callback(5) is None
    assert socket.ack_callbacks == {}


def test_getitem_returns_active_namespace():
    socket = make_socket({"/a": BaseNamespace})
    with pytest.raises(KeyError):
        socket["/a"]  # not instantiated before its first packet
    feed(socket, "1::/a")
    assert isinstance(socket["/a"], BaseNamespace)
    assert socket["/a"] is socket.active_ns["/a"]
    with pytest.raises(KeyError):
        socket["/nope"]


# -- the receiver loop -------------------------------------------------------------


def test_decoding_error_sends_invalid_packet():
    socket = make_socket({"": Echo})
    feed(socket, "99::")
    (out,) = sent(socket)
    name, args = json.loads(out.split(":", 3)[3])["name"], json.loads(out.split(":", 3)[3])["args"]
    assert out.startswith("5:::")
    assert name == "error"
    assert args[0] == "invalid_packet"
    assert args[1].startswith("There was a decoding error when dealing with packet")
    assert socket.connected  # the loop goes on
    feed(socket, '5:1+::{"name":"echo","args":[1]}')
    assert sent(socket) == ["6:::1+[1]"]


def test_unknown_endpoint_gets_no_such_namespace():
    socket = make_socket({"": Echo})
    feed(socket, "1::/nope", '5::/nope:{"name":"x"}')
    expected = error_event(
        "no_such_namespace", "The endpoint you tried to connect to doesn't exist: /nope", "/nope"
    )
    assert sent(socket) == [expected, expected]
    assert socket.active_ns == {}


def test_namespace_is_instantiated_lazily():
    Echo.created = []
    request = {"user": "x"}
    socket = make_socket({"": Echo, "/chat": Echo}, request=request)
    feed(socket)
    assert Echo.created == [] and socket.active_ns == {}
    feed(socket, '5::/chat:{"name":"echo"}')
    assert Echo.created == [(socket.environ, "/chat", request)]
    feed(socket, '5::/chat:{"name":"echo"}', '5:::{"name":"echo"}')
    assert Echo.created == [(socket.environ, "/chat", request), (socket.environ, "", request)]
    assert sorted(socket.active_ns) == ["", "/chat"]


def test_global_disconnect_kills_the_socket():
    socket = make_socket({"": Echo, "/chat": Echo})
    feed(socket, '5:::{"name":"echo"}', "1::/chat")
    loop = socket._test_receiver
    feed(socket, "0::")
    settle()
    assert socket.state == Socket.STATE_DISCONNECTING
    assert socket.ended.is_set()
    assert socket.sessid not in socket.server.sockets
    assert socket.active_ns == {}
    assert loop.dead


def test_plain_id_is_acked_before_the_handler_runs():
    socket = make_socket({"": Echo})
    feed(socket, '5:12::{"name":"queue_seen"}')
    assert sent(socket) == ["6:::12", '5:::{"args":[["6:::12"]],"name":"seen"}']


def test_ack_with_data_sends_the_return_value():
    socket = make_socket({"": Echo, "/chat": Echo})
    feed(socket, '5:3+::{"name":"echo","args":["a",{"b":[1]}]}')
    feed(socket, '5:4+:/chat:{"name":"echo","args":["+:"]}')
    assert sent(socket) == ['6:::3+["a",{"b":[1]}]', '6::/chat:4+["+:"]']


def test_heartbeat_and_noop_packets_are_not_dispatched():
    socket = make_socket({"": Echo})
    before = socket.heartbeats
    feed(socket, "2::", "8::")
    assert sent(socket) == []
    assert socket.active_ns == {}
    assert socket.heartbeats >= before + 2


def test_handler_killing_the_socket_ends_the_loop():
    socket = make_socket({"": Echo})
    feed(socket, '5:::{"name":"kill"}')
    settle()
    assert socket.state == Socket.STATE_DISCONNECTING
    assert socket.ended.is_set()
    assert socket._test_receiver.dead


def test_socketio_manage_blocks_until_the_socket_ends():
    from socketio import socketio_manage

    socket = make_socket(connected=True)
    environ = {"socketio": socket}
    errors = []
    manage = gevent.spawn(
        socketio_manage,
        environ,
        {"": Echo},
        request="req",
        error_handler=lambda *a: errors.append(a[1:]),
    )
    settle()
    assert not manage.dead
    assert socket.environ is environ
    assert socket.request == "req"
    socket.put_server_msg("1::/missing")
    settle()
    assert errors == [
        (
            "no_such_namespace",
            "The endpoint you tried to connect to doesn't exist: /missing",
            "/missing",
            None,
            False,
        )
    ]
    socket.put_server_msg("0::")
    manage.join(1)
    assert manage.dead


# -- JSON overrides ------------------------------------------------------------------


def test_json_overrides():
    dumped, loaded = [], []

    def dumps(data):
        dumped.append(data)
        return json.dumps(data, separators=(",", ":"), sort_keys=True).replace('"x"', '"X"')

    def loads(text):
        loaded.append(text)
        return json.loads(text.replace("1", "2"))

    socket = make_socket({"": Echo})
    socket._set_json_dumps(dumps)
    socket._set_json_loads(loads)
    assert socket.json_dumps is dumps and socket.json_loads is loads
    feed(socket, '5:1+::{"name":"echo","args":[1,"x"]}')
    assert loaded == ['{"name":"echo","args":[1,"x"]}']
    assert sent(socket) == ['6:::1+[2,"X"]']
    assert dumped == [[2, "x"]]


# -- errors ----------------------------------------------------------------------


def test_default_error_handler():
    socket = make_socket()
    default_error_handler(socket, "name", "message", "/ns", None, False)
    assert sent(socket) == [error_event("name", "message", "/ns")]
    default_error_handler(socket, "name", "message", "", 7, False)
    assert sent(socket) == ['5:7::{"args":["name","message"],"name":"error"}']
    default_error_handler(socket, "name", "message", "/ns", 7, True)
    assert sent(socket) == []


def test_socket_error_uses_the_error_handler():
    calls = []
    socket = Socket(FakeServer(), {}, error_handler=lambda *a: calls.append(a))
    socket.error("e", "m")
    socket.error("e2", "m2", endpoint="/x", msg_id=3, quiet=True)
    assert calls == [(socket, "e", "m", None, None, False), (socket, "e2", "m2", "/x", 3, True)]
    socket._set_error_handler(default_error_handler)
    socket.error("e3", "m3", quiet=True)
    assert socket.client_queue.qsize() == 0


def test_send_packet():
    socket = make_socket()
    socket.send_packet({"type": "event", "name": "x", "args": [1], "endpoint": "/a"})
    socket.send_packet({"type": "noop"})
    assert sent(socket) == ['5::/a:{"args":[1],"name":"x"}', "8::"]


# -- session ids -------------------------------------------------------------------


def test_session_ids_are_random_hex():
    sids = {Socket(FakeServer(), {}).sessid for _ in range(500)}
    assert len(sids) == 500
    assert all(re.fullmatch(r"[0-9a-f]{32}", sid) for sid in sids)


def test_session_ids_come_from_secrets(monkeypatch):
    calls = []

    def token_hex(nbytes=None):
        calls.append(nbytes)
        return "ab" * nbytes

    monkeypatch.setattr(sessionid.secrets, "token_hex", token_hex)
    assert Socket(FakeServer(), {}).sessid == "ab" * 16
    assert calls == [16]


def test_spawn_ties_jobs_to_the_socket():
    socket = make_socket()
    job = socket.spawn(lambda x: x * 2, 21)
    job.join(1)
    assert job.value == 42
    settle()
    assert job not in socket.jobs  # finished jobs are forgotten
    sleeper = socket.spawn(gevent.sleep, 10)
    socket.kill()
    settle()
    assert sleeper.dead


def test_spawned_timers():
    socket = make_socket(config={"heartbeat_interval": 0.01})
    beat = socket._spawn_heartbeat()
    settle(0.05)
    assert "2::" in sent(socket)
    socket.kill()
    settle()
    assert beat.dead

    # the watcher closes a socket that stays silent for close_timeout
    quiet = make_socket(config={"close_timeout": 0.03}, connected=False)
    quiet._spawn_watcher()
    settle(0.1)
    assert quiet.state == Socket.STATE_DISCONNECTING
    assert quiet.ended.is_set()
    assert quiet.server.sockets == {}


def test_every_attribute_socket_sets_lives_in_a_slot():
    """``Socket.__slots__`` lists what ``__init__`` sets (a new one left out would
    bring back the per-session dict); other attributes can still be set."""
    socket = make_socket()
    assert vars(socket) == {}
    socket.anything = 1
    assert vars(socket) == {"anything": 1}


def test_timeout_is_set_when_the_session_ends_whenever_it_is_asked_for():
    early, late = make_socket(), make_socket()
    event = early.timeout
    assert not event.is_set() and early.timeout is event
    for socket in (early, late):
        socket.incr_hits()
        socket.kill(detach=True)
    assert event.is_set() and late.timeout.is_set()
    replaced = gevent.event.Event()
    late.timeout = replaced  # a plain attribute on the original
    assert late.timeout is replaced


def test_packets_dispatched_from_several_greenlets_are_handled_one_at_a_time_in_order():
    release = gevent.event.Event()
    log: list = []

    class Slow(BaseNamespace):
        def on_step(self, n):
            log.append(("start", n))
            if n == 1:
                release.wait()
            log.append(("end", n))

    socket = make_socket({"": Slow})
    packet = '5:::{"name":"step","args":[%d]}'
    first = gevent.spawn(socket._dispatch, packet % 1)
    gevent.sleep(0)
    assert not socket._can_dispatch_now()
    waiting = [gevent.spawn(socket._dispatch, packet % n) for n in (2, 3)]
    gevent.sleep(0.01)
    assert log == [("start", 1)]
    release.set()
    gevent.joinall([first, *waiting], timeout=2, raise_error=True)
    assert log == [(edge, n) for n in (1, 2, 3) for edge in ("start", "end")]
    assert socket._dispatcher is None
    # the lock made for the waiting ones is free again, and still used
    assert socket._can_dispatch_now() == socket._serving
    socket._dispatch(packet % 4)
    assert log[-1] == ("end", 4)
