"""Ack timeouts and the bound on pending acks (issue 20, item 4).

Against a real :class:`~socketio.virtsocket.Socket` fed packets as a
transport would: the timer is the session's real hub timer, so the tests
wait (a few tenths of a second) rather than fake the clock.
"""

from __future__ import annotations

import gevent
import pytest

from socketio.exceptions import AckTimeout, ConfigError
from socketio.namespace import BaseNamespace

from .fake_server import feed, make_socket, sent, wait_until


def make_ns(config=None):
    socket = make_socket({"/ns": BaseNamespace}, config=config)
    feed(socket, "1::/ns")
    assert sent(socket) == ["1::/ns"]
    return socket, socket["/ns"]


def test_without_timeout_nothing_is_made_and_the_callback_waits():
    socket, ns = make_ns()
    got = []
    ns.emit("q", callback=lambda *a: got.append(a))
    assert socket._ack_deadlines is None  # no timer, no heap: the feature costs nothing
    assert "_ack_deadlines" not in socket.__dict__
    gevent.sleep(0.1)
    feed(socket, "6::/ns:1+[7]")
    assert got == [(7,)]


def test_timeout_calls_the_callback_once_with_ack_timeout_and_a_late_ack_is_ignored():
    socket, ns = make_ns()
    got = []
    ns.emit("q", "x", callback=lambda *a: got.append(a), ack_timeout=0.05)
    assert sent(socket) == ['5:1+:/ns:{"args":["x"],"name":"q"}']
    wait_until(lambda: got, "the timeout")
    ((timeout,),) = got
    assert isinstance(timeout, AckTimeout)
    assert (timeout.msg_id, timeout.event, timeout.seconds, timeout.early) == (1, "q", 0.05, False)
    assert "not acked in 0.05s" in str(timeout)
    assert socket.ack_callbacks == {}
    feed(socket, "6::/ns:1+[7]")  # too late: unknown id, nothing is called
    gevent.sleep(0.05)
    assert len(got) == 1


def test_ack_in_time_cancels_the_timeout():
    socket, ns = make_ns()
    got = []
    ns.emit("q", callback=lambda *a: got.append(a), ack_timeout=0.05)
    feed(socket, "6::/ns:1+[1,2]")
    gevent.sleep(0.15)
    assert got == [(1, 2)]
    assert socket._ack_deadlines.pending == {}


def test_errback_gets_the_timeout_and_the_callback_nothing():
    _socket, ns = make_ns()
    acks, timeouts = [], []
    ns.emit("q", callback=acks.append, ack_timeout=0.05, on_timeout=timeouts.append)
    wait_until(lambda: timeouts, "the errback")
    assert acks == []
    assert isinstance(timeouts[0], AckTimeout)


def test_several_timeouts_fire_in_deadline_order_with_one_timer():
    socket, ns = make_ns()
    fired = []
    for event, seconds in (("slow", 0.2), ("fast", 0.05), ("mid", 0.1)):
        ns.emit(event, callback=lambda t: fired.append(t.event), ack_timeout=seconds)
    deadlines = socket._ack_deadlines
    assert len(deadlines.heap) == 3
    wait_until(lambda: len(fired) == 3, "three timeouts")
    assert fired == ["fast", "mid", "slow"]
    assert deadlines.timer is None
    assert deadlines.heap == []


def test_acked_entries_are_compacted_out_of_the_heap():
    socket, ns = make_ns()
    for msgid in range(1, 301):
        ns.emit("q", callback=lambda *a: None, ack_timeout=60)
        feed(socket, f"6::/ns:{msgid}+[]")
    deadlines = socket._ack_deadlines
    assert deadlines.pending == {}
    assert len(deadlines.heap) <= 65


def test_session_end_drops_pending_acks_without_calling_them():
    socket, ns = make_ns()
    got = []
    ns.emit("q", callback=got.append, ack_timeout=0.05)
    ns.emit("r", callback=got.append)
    timer = socket._ack_deadlines.timer
    socket.kill(detach=True)
    assert not timer.active
    assert socket._ack_deadlines is None
    assert socket.ack_callbacks == {}
    gevent.sleep(0.15)
    assert got == []


def test_max_pending_acks_gives_up_the_oldest_early():
    socket, ns = make_ns({"max_pending_acks": 2})
    got = []
    ns.emit("a", callback=got.append, ack_timeout=30)
    ns.emit("b", callback=got.append, ack_timeout=30)
    ns.emit("c", callback=got.append, ack_timeout=30)
    assert list(socket.ack_callbacks) == [2, 3]
    wait_until(lambda: got, "the early timeout")
    (timeout,) = got
    assert (timeout.msg_id, timeout.event, timeout.early) == (1, "a", True)
    assert "max_pending_acks" in str(timeout)
    feed(socket, '6::/ns:3+["c"]')
    assert got[1:] == ["c"]


def test_max_pending_acks_drops_a_plain_callback_with_one_log_line(caplog):
    socket, ns = make_ns({"max_pending_acks": 1})
    got = []
    with caplog.at_level("WARNING", logger="socketio.virtsocket"):
        for _ in range(4):
            ns.emit("q", callback=lambda *a: got.append(a))
    gevent.sleep(0.01)
    assert list(socket.ack_callbacks) == [4]
    assert got == []  # a 0.3 callback is never handed a value it cannot expect
    lines = [r for r in caplog.records if "max_pending_acks" in r.getMessage()]
    assert len(lines) == 1


def test_default_bound_is_documented_value():
    socket, _ns = make_ns()
    assert socket.config.max_pending_acks == 1000
    with pytest.raises(ConfigError):
        make_socket(config={"max_pending_acks": 0})


def test_a_failing_timeout_callback_is_logged_and_the_others_still_run(caplog):
    socket, ns = make_ns()
    got = []

    def bad(_timeout):
        raise RuntimeError("boom")

    ns.emit("a", callback=bad, ack_timeout=0.05)
    ns.emit("b", callback=got.append, ack_timeout=0.05)
    with caplog.at_level("ERROR", logger="socketio.virtsocket"):
        wait_until(lambda: got, "the second timeout")
    assert any("timeout callback of message 1" in r.getMessage() for r in caplog.records)
    assert socket.connected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ack_timeout": 1},
        {"on_timeout": print},
        {"callback": print, "on_timeout": print},
        {"callback": print, "ack_timeout": 0},
        {"callback": print, "ack_timeout": -1},
        {"callback": print, "ack_timeout": float("inf")},
        {"callback": print, "ack_timeout": True},
        {"callback": print, "ack_timeout": "5"},
    ],
)
@pytest.mark.parametrize("method", ["emit", "send"])
def test_invalid_timeout_arguments_raise_before_sending(kwargs, method):
    socket, ns = make_ns()
    with pytest.raises(ValueError, match=r"ack_timeout|on_timeout"):
        getattr(ns, method)("q", **kwargs)
    assert sent(socket) == []
    assert socket.ack_callbacks == {}


def test_an_emit_after_the_session_ended_arms_nothing():
    socket, ns = make_ns()
    got = []
    socket.kill(detach=True)
    ns.emit("q", callback=got.append, ack_timeout=0.01)
    assert socket._ack_deadlines is None
    gevent.sleep(0.05)
    assert got == []


def test_a_timeout_callback_that_ends_the_session_stops_the_others():
    socket, ns = make_ns()
    got = []

    def kill(timeout):
        got.append(timeout.event)
        socket.kill(detach=True)

    ns.emit("a", callback=kill, ack_timeout=0.05)
    ns.emit("b", callback=got.append, ack_timeout=0.05)
    wait_until(lambda: socket.ended.is_set(), "the session's end")
    gevent.sleep(0.05)
    assert got == ["a"]


@pytest.mark.parametrize(
    ("json", "kind", "wire"), [(False, "message", "3:1:/ns:hi"), (True, "json", '4:1:/ns:"hi"')]
)
def test_send_takes_the_same_timeout_as_emit(json, kind, wire):
    socket, ns = make_ns()
    got = []
    ns.send("hi", json=json, callback=lambda *a: got.append(a), ack_timeout=0.05)
    assert sent(socket) == [wire]
    wait_until(lambda: got, "the timeout")
    ((timeout,),) = got
    assert isinstance(timeout, AckTimeout)
    assert (timeout.msg_id, timeout.event, timeout.seconds) == (1, kind, 0.05)
    feed(socket, "6::/ns:1")  # too late: nothing more is called
    gevent.sleep(0.05)
    assert len(got) == 1


def test_a_send_acked_in_time_calls_its_callback_and_not_its_errback():
    socket, ns = make_ns()
    acks, timeouts = [], []
    ns.send("hi", callback=lambda *a: acks.append(a), ack_timeout=0.05, on_timeout=timeouts.append)
    feed(socket, "6::/ns:1")
    gevent.sleep(0.15)
    assert acks == [()]
    assert timeouts == []
