"""The gevent-socketio 0.3 names of a session (``socketio.session_compat``), all in one place."""

from __future__ import annotations

import gevent

from socketio.session_compat import Compat03
from socketio.virtsocket import Socket

from .fake_server import make_socket, wait_until


def test_the_0_3_names_are_there():
    for name in (
        "STATE_CONNECTING",
        "STATE_CONNECTED",
        "STATE_DISCONNECTING",
        "STATE_DISCONNECTED",
        "_set_namespaces",
        "_set_request",
        "_set_environ",
        "_set_error_handler",
        "_set_json_loads",
        "_set_json_dumps",
        "timeout",
        "_spawn_heartbeat",
        "_spawn_watcher",
        "_receiver_loop",
        "_spawn_receiver_loop",
        "_get_namespace",
        "client_queue",
        "server_queue",
    ):
        assert hasattr(Socket, name), name
    assert issubclass(Socket, Compat03)


def test_setters_set():
    socket = make_socket()
    loads, dumps, handler = (lambda s: s), (lambda o: o), (lambda *a: None)
    socket._set_json_loads(loads)
    socket._set_json_dumps(dumps)
    socket._set_error_handler(handler)
    socket._set_request("req")
    assert (socket.json_loads, socket.json_dumps, socket.error_handler, socket.request) == (
        loads,
        dumps,
        handler,
        "req",
    )


def test_timeout_event_and_greenlets_live_as_long_as_the_session():
    socket = make_socket()
    beat, watch = socket._spawn_heartbeat(), socket._spawn_watcher()
    assert isinstance(beat, gevent.Greenlet)
    assert not socket.timeout.is_set()
    socket.kill(detach=True)
    assert socket.timeout.is_set()
    wait_until(lambda: beat.dead and watch.dead, "both timers stopped")
