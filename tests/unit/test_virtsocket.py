"""``socketio.virtsocket.Socket``: states, queues, acks and the receiver loop.

No network: a fake server object with a ``sockets`` dict, as api.md allows.
"""

from __future__ import annotations

import json
import re
import time

import gevent
import gevent.event
import gevent.queue
import pytest

import socketio.sessionid as sessionid
from socketio import fairness
from socketio.namespace import BaseNamespace
from socketio.virtsocket import Socket, default_error_handler

from .fake_server import FakeServer, error_event, feed, make_socket, sent, wait_until


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
    assert callable(socket.json_loads)
    assert callable(socket.json_dumps)


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
    wait_until(lambda: job.dead, "the job killed")
    assert socket.ack_callbacks == {}


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
    assert "0::/a" in out
    assert "0::/b" in out
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
    assert socket.ended.wait(5)
    assert socket.state == Socket.STATE_DISCONNECTING
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
    assert Echo.created == []
    assert socket.active_ns == {}
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
    assert socket.ended.wait(5)
    assert socket.state == Socket.STATE_DISCONNECTING
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
    assert socket.ended.wait(5)
    assert socket.state == Socket.STATE_DISCONNECTING
    wait_until(lambda: socket._test_receiver.dead, "the receiver loop ended")


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
    wait_until(lambda: socket.request == "req", "socketio_manage set the request")
    assert not manage.dead
    assert socket.environ is environ
    socket.put_server_msg("1::/missing")
    wait_until(lambda: errors, "the error handler called")
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
    assert socket.json_dumps is dumps
    assert socket.json_loads is loads
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
    wait_until(lambda: job not in socket.jobs, "the finished job forgotten")
    sleeper = socket.spawn(gevent.sleep, 10)
    socket.kill()
    wait_until(lambda: sleeper.dead, "the job killed")


def test_spawned_timers():
    socket = make_socket(config={"heartbeat_interval": 0.01})
    beat = socket._spawn_heartbeat()
    wait_until(lambda: "2::" in sent(socket), "a heartbeat sent")
    socket.kill()
    wait_until(lambda: beat.dead, "the heartbeat timer stopped")

    # the watcher closes a socket that stays silent for close_timeout, not before
    quiet = make_socket(config={"close_timeout": 0.03}, connected=False)
    started = time.monotonic()
    quiet._spawn_watcher()
    assert quiet.ended.wait(5)
    assert time.monotonic() - started >= 0.02  # (the loop's cached clock lags)
    assert quiet.state == Socket.STATE_DISCONNECTING
    assert quiet.server.sockets == {}


def test_every_attribute_socket_sets_lives_in_a_slot():
    """``Socket.__slots__`` lists what ``__init__`` sets; other attributes can still be set.

    A new attribute left out of the slots would bring back the per-session dict.
    """
    socket = make_socket()
    assert vars(socket) == {}
    socket.anything = 1
    assert vars(socket) == {"anything": 1}


def test_timeout_is_set_when_the_session_ends_whenever_it_is_asked_for():
    early, late = make_socket(), make_socket()
    event = early.timeout
    assert not event.is_set()
    assert early.timeout is event
    for socket in (early, late):
        socket.incr_hits()
        socket.kill(detach=True)
    assert event.is_set()
    assert late.timeout.is_set()
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
    first = gevent.spawn(socket.dispatch, packet % 1)
    gevent.sleep(0)
    assert not socket.can_dispatch_now()
    waiting = [gevent.spawn(socket.dispatch, packet % n) for n in (2, 3)]
    gevent.sleep(0.01)  # the test: the other two do not start meanwhile
    assert log == [("start", 1)]
    release.set()
    gevent.joinall([first, *waiting], timeout=2, raise_error=True)
    assert log == [(edge, n) for n in (1, 2, 3) for edge in ("start", "end")]
    assert socket.dispatching is None
    # the lock made for the waiting ones is free again, and still used
    assert socket.can_dispatch_now() == socket.serving
    socket.dispatch(packet % 4)
    assert log[-1] == ("end", 4)


# -- hostile clients: bytes queued, fairness, what an idle session keeps, logs -------


class BigLimit(BaseNamespace):
    def on_push(self, count, size):
        for _ in range(count):
            self.emit("data", "x" * size)


def test_queue_bounded_in_bytes_disconnects_a_slow_consumer(caplog):
    socket = make_socket({"/a": BaseNamespace}, config={"max_queue_bytes": 1000})
    for _ in range(9):
        socket.put_client_msg("x" * 100)
    assert socket._queued_bytes == 900
    socket.put_client_msg("x" * 100)  # 1000: at the limit, still queued
    assert socket.connected
    with caplog.at_level("WARNING", logger="socketio.virtsocket"):
        socket.put_client_msg("y")  # one past it
    assert socket.ended.wait(5)
    assert socket.state == Socket.STATE_DISCONNECTING
    assert "y" not in list(socket.client_queue.queue)
    lines = [r.getMessage() for r in caplog.records if "slow consumer" in r.getMessage()]
    assert len(lines) <= 1


def test_one_packet_larger_than_the_byte_limit_goes_when_nothing_waits():
    socket = make_socket(config={"max_queue_bytes": 10})
    socket.put_client_msg("x" * 100)
    assert socket.connected
    assert socket.get_client_msg() == "x" * 100
    assert socket._queued_bytes == 0


def test_queued_bytes_follow_every_way_of_taking_packets():
    socket = make_socket(config={"max_queue_bytes": 250})
    for msg in ("a" * 100, "b" * 100):
        socket.put_client_msg(msg)
    assert socket.get_client_msg() == "a" * 100
    assert socket._queued_bytes == 100
    socket.put_client_msg("c" * 100)
    assert socket.get_multiple_client_msgs() == ["b" * 100, "c" * 100]
    assert socket._queued_bytes == 0
    # taken straight from the queue (code written for the original does): the
    # count starts again from the next packet put into an empty queue
    for msg in ("d" * 100, "e" * 100):
        socket.put_client_msg(msg)
    sent(socket)
    for _ in range(2):
        socket.put_client_msg("f" * 100)
    assert socket.connected
    assert socket._queued_bytes == 200
    socket.attach_output(_Output())
    assert socket._queued_bytes == 0


class _Output:
    """A websocket output: a backlog of packets and bytes the connection has not written yet."""

    def __init__(self, backlog=0, backlog_bytes=0):
        self.backlog = backlog
        self.backlog_bytes = backlog_bytes
        self.written = []

    def write(self, msg):
        self.written.append(msg)


def test_websocket_backlog_bounded_in_bytes():
    socket = make_socket(config={"max_queue_bytes": 1000})
    output = _Output()
    socket.attach_output(output)
    socket.put_client_msg("x" * 5000)  # nothing waits: written
    output.backlog, output.backlog_bytes = 3, 990
    socket.put_client_msg("x" * 10)  # 1000
    assert output.written == ["x" * 5000, "x" * 10]
    assert socket.connected
    output.backlog_bytes = 1000
    socket.put_client_msg("y")
    # the session ends: the connection is closed
    wait_until(lambda: output.written[-1] is None, "the connection closed")
    assert "y" not in output.written
    assert socket.state == Socket.STATE_DISCONNECTING


def test_an_output_that_does_not_count_bytes_is_bounded_by_packets():
    # (Output.backlog_bytes is part of the seam: one that does not count says 0)
    socket = make_socket(config={"max_queue_bytes": 1000, "max_queue_size": 5})
    output = _Output(backlog=4)
    socket.attach_output(output)
    socket.put_client_msg("x" * 100)
    assert socket.connected
    assert output.written == ["x" * 100]
    output.backlog = 5
    socket.put_client_msg("y")
    wait_until(lambda: not socket.connected, "the session ended")
    assert "y" not in output.written


def test_a_slow_consumer_is_killed_once_and_logged_once(caplog):
    socket = make_socket(config={"max_queue_size": 3})
    spawned = []
    real_spawn = gevent.spawn

    def counting_spawn(fn, *args, **kwargs):
        spawned.append(fn)
        return real_spawn(fn, *args, **kwargs)

    with caplog.at_level("WARNING", logger="socketio.virtsocket"):
        gevent.spawn = counting_spawn
        try:
            for i in range(50):
                socket.put_client_msg(f"3:::{i}")
        finally:
            gevent.spawn = real_spawn
        assert socket.ended.wait(5)
    kills = [fn for fn in spawned if getattr(fn, "__name__", "") == "kill"]
    assert len(kills) == 1
    assert len([r for r in caplog.records if "slow consumer" in r.getMessage()]) == 1
    assert socket.state == Socket.STATE_DISCONNECTING


def test_session_logs_are_kept_per_server_not_per_module():
    import socketio.virtsocket as virtsocket
    from socketio.seams import SessionLogs, session_logs

    assert not hasattr(virtsocket, "_app_errors")
    assert not hasattr(virtsocket, "_error_log")
    one, two = make_socket(), make_socket()
    assert session_logs(one.server) is session_logs(one.server)
    assert session_logs(one.server) is not session_logs(two.server)
    # a server object that cannot take the attribute still serves
    bare = Socket(object(), {})
    assert isinstance(session_logs(bare.server), SessionLogs)
    bare.incr_hits()
    bare.error("e", "m")
    assert bare.client_queue.qsize() == 1


def test_the_receiver_loop_lets_others_run_during_a_long_burst():
    from socketio.virtsocket import BURST

    handled = []
    ticks = []

    class Counting(BaseNamespace):
        def recv_message(self, data):
            handled.append(int(data))

    socket = make_socket({"": Counting})
    count = 10 * BURST
    for i in range(count):
        socket.put_server_msg(f"3:::{i}")

    def ticker():
        while len(handled) < count:
            ticks.append(len(handled))
            gevent.sleep(0)

    gevent.spawn(ticker)
    socket._spawn_receiver_loop()
    wait_until(lambda: len(handled) == count, "every packet handled")
    assert handled == list(range(count))  # in order, every one
    # the other greenlet ran between bursts, not only before and after
    inside = [t for t in ticks if 0 < t < count]
    assert len(inside) >= count // BURST - 2
    assert max(b - a for a, b in zip(ticks, ticks[1:])) <= BURST + 1


@pytest.mark.cpython_only  # (tracemalloc: CPython's allocator)
def test_an_idle_session_keeps_nothing_of_its_last_packet():
    import gc
    import tracemalloc

    class Quiet(BaseNamespace):
        def recv_message(self, data):
            return None

        def on_take(self, *args):
            return None

    socket = make_socket({"": Quiet})
    feed(socket, "2::")  # the loop runs and waits
    size = 10 * 1024 * 1024

    def send_big(raw_head):
        socket.put_server_msg(raw_head + "x" * size + ('"]}' if raw_head.startswith("5") else ""))

    gc.collect()
    tracemalloc.start()
    try:
        for head in ("3:::", '5:::{"name":"take","args":["'):
            before = tracemalloc.get_traced_memory()[0]
            send_big(head)
            for _ in range(100):
                fairness.pause()  # (a turn of the loop: the receiver's pauses wait for one)
                if not socket.server_queue.qsize():
                    break
            gevent.sleep(0)
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - before
            assert kept < 100_000, (head, kept)
    finally:
        tracemalloc.stop()
    assert socket.connected


def test_error_log_lines_are_short_escaped_and_one_per_kind(caplog):

    socket = make_socket({"": Echo})
    endpoint = "/x\nINFO forged line" + "y" * 100_000
    with caplog.at_level("INFO", logger="socketio.virtsocket"):
        feed(socket, *[f"1::{endpoint}"] * 20, *["99::"] * 20)
    lines = [r.getMessage() for r in caplog.records]
    assert len([line for line in lines if "no_such_namespace" in line]) == 1
    assert len([line for line in lines if "invalid_packet" in line]) == 1
    assert all("\n" not in line and len(line) < 600 for line in lines), lines
    out = sent(socket)
    assert len(out) == 40
    # the long endpoint is not sent back, and its text is clipped
    assert out[0].startswith("5:::")
    assert len(out[0]) < 400
    assert "INFO forged line" in out[0]  # (to its own client, escaped by JSON)


def test_a_short_unknown_endpoint_is_answered_on_it():
    socket = make_socket({"": Echo})
    feed(socket, "1::/nope\nx")
    (out,) = sent(socket)
    assert out.startswith("5::/nope\nx:")


def test_application_errors_keep_one_traceback_per_site_with_a_count(caplog):
    class Boom(BaseNamespace):
        def on_boom(self, n):
            raise RuntimeError(f"boom {n}")

    socket = make_socket({"": Boom})
    with caplog.at_level("INFO", logger="socketio.virtsocket"):
        feed(socket, *[f'5:::{{"name":"boom","args":[{n}]}}' for n in range(30)])
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert errors[0].exc_info
    assert "boom 0" in caplog.text
    assert socket.connected
    # another server (another test's) starts afresh
    other = make_socket({"": Boom})
    with caplog.at_level("INFO", logger="socketio.virtsocket"):
        feed(other, '5:::{"name":"boom","args":[99]}')
    assert "boom 99" in caplog.text


@pytest.mark.parametrize(
    "raw",
    [
        '5:1+::{"name":"echo","args":[1e999]}',
        '5:1+::{"name":"echo","args":[-1E400]}',
        '5:1+::{"name":"echo","args":[NaN]}',
        '5:1+::{"name":"echo","args":[Infinity]}',
        '5:1+::{"name":"echo","args":[' + "9" * 10_000 + "]}",
        '5:1+::{"name":"echo","args":' + "[" * 990 + "]" * 990 + "}",
        '5:1+::{"name":"echo","args":' + '{"a":' * 500 + "1" + "}" * 500 + "}",
        "4:1+::1e999",
        "4:1+::" + "[" * 200 + "]" * 200,
        "6:::1+[1e999]",
        "6:::1+" + "[" * 5000 + "]" * 5000,
    ],
    ids=lambda raw: raw[:30],
)
def test_json_the_server_could_not_send_back_gets_an_answer_and_no_traceback(raw, caplog):
    socket = make_socket({"": Echo})
    with caplog.at_level("INFO"):
        feed(socket, raw)
    assert not [r for r in caplog.records if r.exc_info or r.levelname == "ERROR"]
    out = sent(socket)
    assert out
    assert out[0].startswith("5:::")
    assert json.loads(out[0].split(":", 3)[3])["name"] == "error"
    feed(socket, '5:2+::{"name":"echo","args":[1]}')
    assert sent(socket)[-1] == "6:::2+[1]"


@pytest.mark.parametrize(
    "raw",
    [
        '5:1+::{"name":"echo","args":["\\ud800","\\udfff","a\\ud83d"]}',
        '5:1+::{"name":"echo","args":' + "[" * 100 + "]" * 100 + "}",
        '5:1+::{"name":"echo","args":[1.7976931348623157e308, 4e-320]}',
    ],
    ids=["surrogates", "nested-100", "extreme-floats"],
)
def test_json_the_server_can_send_back_is_echoed(raw):
    socket = make_socket({"": Echo})
    feed(socket, raw)
    (out,) = sent(socket)
    assert out.startswith("6:::1+")
    assert json.loads(out[len("6:::1+") :]) == json.loads(raw.split(":", 3)[3])["args"]
