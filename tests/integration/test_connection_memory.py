"""What a connection keeps for as long as it lasts: no more than it needs.

Most tests here measure (tracemalloc) what connections to a server in this
process keep; a few look at what greenlet keeps of a parked greenlet (its
saved C stack, gevent's spawning stack), which no measure of Python
allocations shows as directly.

A handler's attributes stay in the compact form CPython shares between
instances: pywsgi ends every connection by popping attributes from the handler's
``__dict__``. On CPython 3.11+, a name new to the class set on any handler
after that makes every later handler carry a dict of its own (about 1.3 KiB
each, for as long as a websocket connection lasts).
"""

from __future__ import annotations

import gc
import sys
import types
from typing import Any

import pytest

from socketio import handler, pywsgiprivate
from tests.client09.raw import raw_websocket
from tests.client09.waiting import wait_for

#: CPython 3.10, whose internals two of these measures need newer (PyPy is told by cpython_only)
CPYTHON_3_10 = sys.implementation.name == "cpython" and sys.version_info < (3, 11)


def _bytes_per_instance(cls: type, count: int = 200) -> float:
    import tracemalloc  # (CPython's: PyPy has none)

    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        kept = []
        for _ in range(count):
            instance = object.__new__(cls)
            for name in pywsgiprivate.HANDLER_ATTRIBUTES:
                object.__setattr__(instance, name, None)
            kept.append(instance)
        return (tracemalloc.get_traced_memory()[0] - start) / count
    finally:
        tracemalloc.stop()


def _end_a_connection_early(cls: type) -> None:
    """What a short connection leaves: some attributes set, then pywsgi's pops, then one more."""
    first = object.__new__(cls)
    for name in pywsgiprivate.HANDLER_ATTRIBUTES[:8]:
        object.__setattr__(first, name, None)
    first.__dict__.pop("socket", None)
    first.__dict__.pop("rfile", None)
    object.__setattr__(first, "socket", None)


@pytest.mark.skipif(CPYTHON_3_10, reason="3.10 has no inline attribute values")
@pytest.mark.cpython_only  # (CPython's shared instance-dict keys)
def test_without_the_shared_table_handlers_would_get_dicts_of_their_own():
    class Plain:
        pass

    _end_a_connection_early(Plain)
    assert _bytes_per_instance(Plain) > 1000


@pytest.mark.cpython_only  # (CPython's shared instance-dict keys)
def test_handler_classes_share_one_table_of_attribute_names():
    class Subclassed(handler.SocketIOHandler):
        pass

    for cls in (handler.SocketIOHandler, Subclassed):
        _end_a_connection_early(cls)
        assert _bytes_per_instance(cls) < 600


def test_a_connection_greenlet_keeps_no_copy_of_the_accept_loops_stack():
    import gevent
    import gevent.socket

    from socketio.server import SocketIOServer, _ConnectionGreenlet

    server = SocketIOServer(("127.0.0.1", 0), lambda e, s: [], policy_server=False, log=None)
    server.start()
    try:
        client = gevent.socket.create_connection(("127.0.0.1", server.server_port))

        def connection_greenlets() -> list[Any]:
            # (type(), not isinstance or getattr: other tests leave lazy objects
            # that configure themselves when looked at)
            return [
                g
                for g in gc.get_objects()
                if type(g) in (gevent.Greenlet, _ConnectionGreenlet) and g.args
                if type(g.args[0]) is types.MethodType and g.args[0].__self__ is server
            ]

        [greenlet] = wait_for(
            connection_greenlets, what="the connection's greenlet", sleep=gevent.sleep
        )
        assert greenlet.spawning_stack is None
        assert greenlet.spawning_greenlet is not None  # gevent's tree is kept
        client.close()
    finally:
        server.stop()


def test_the_environs_of_websocket_sessions_share_their_header_values():
    import gevent

    import socketio
    from socketio.namespace import BaseNamespace
    from socketio.server import SocketIOServer

    environs: list[dict] = []

    def application(environ: dict, start_response: Any) -> list[bytes]:
        environs.append(environ)
        socketio.socketio_manage(environ, {"": BaseNamespace})
        return []

    server = SocketIOServer(("127.0.0.1", 0), application, policy_server=False, log=None)
    server.start()
    try:
        agent = "Mozilla/5.0 (X11; Linux x86_64) " + "x" * 100
        conns = [raw_websocket(server.server_port, agent) for _ in range(2)]
        wait_for(lambda: len(environs) == 2, what="both applications", sleep=gevent.sleep)
        first, second = environs
        assert first["HTTP_USER_AGENT"] == agent
        for key in ("HTTP_USER_AGENT", "HTTP_HOST", "HTTP_UPGRADE", "REQUEST_METHOD"):
            assert first[key] is second[key], key
        assert first["HTTP_SEC_WEBSOCKET_KEY"] is not second["HTTP_SEC_WEBSOCKET_KEY"]
        for conn in conns:
            conn.close()
    finally:
        server.stop()


@pytest.mark.skipif(CPYTHON_3_10, reason="3.10 makes every Python call through C")
@pytest.mark.cpython_only  # (CPython's greenlet copies C stacks; PyPy's has stacklets)
def test_an_idle_websocket_greenlet_keeps_less_c_stack_than_one_parked_in_hub_wait():
    # greenlet keeps a copy of a parked greenlet's C stack; each call made
    # through the C API on the way to the switch deepens it. A session's
    # greenlet runs some 15 Python frames deep, which CPython calls without
    # C recursion: what is left should be less than gevent's own way to wait.
    import gevent
    import gevent.socket

    import socketio
    from socketio.namespace import BaseNamespace
    from socketio.server import SocketIOServer

    readers: list[Any] = []

    def application(environ: dict, start_response: Any) -> list[bytes]:
        readers.append(gevent.getcurrent())
        socketio.socketio_manage(environ, {"": BaseNamespace})
        return []

    server = SocketIOServer(("127.0.0.1", 0), application, policy_server=False, log=None)
    server.start()
    left, right = gevent.socket.socketpair()
    hub = gevent.get_hub()
    plain = gevent.spawn(hub.wait, hub.loop.io(left.fileno(), 1))
    try:
        conn = raw_websocket(server.server_port, "test")
        [reader] = wait_for(lambda: readers, what="the application call", sleep=gevent.sleep)

        def waiting_frames() -> list[str]:
            frame, names = reader.gr_frame, []
            while frame is not None:
                names.append(frame.f_code.co_name)
                frame = frame.f_back
            return names if names[:1] == ["wait_message"] else []

        # parked for the next message once it reads from its socket
        names = wait_for(
            waiting_frames, what="the session to wait for a message", sleep=gevent.sleep
        )
        assert 0 < reader._stack_saved < plain._stack_saved
        # and it waits where its Python stack is shallowest (each frame of a
        # parked greenlet gets a frame object on 3.12+)
        # (wait_message parks itself: on PyPy each frame costs ~0.9 KiB)
        assert names[:2] == ["wait_message", "_read_and_dispatch"]
        # and the server's handle serves the connection itself (no _serve)
        assert "_serve" not in names
        # the request's classification has returned (and its parse is freed),
        # and so has pywsgi's handling of the upgrade request: the handler's
        # own loop serves the session (four frames fewer)
        assert not {"_route", "_exchange", "_websocket_exchange"} & set(names)
        assert not {"run_application", "handle_one_response", "handle_one_request"} & set(names)
        assert names[names.index("do_exchange") + 1 :][:2] == ["handle", "handle"]
        conn.close()
    finally:
        plain.kill()
        left.close()
        right.close()
        server.stop()


@pytest.mark.cpython_only  # (tracemalloc: CPython's allocator; E measures PyPy's)
def test_an_idle_websocket_costs_less_than_12_kib():
    """All a websocket session keeps while idle, both ends in this process (tracemalloc).

    About 8.7 KiB on CPython 3.11 (the server's handler, session, greenlet
    and its saved stack, and the client's socket); the bound catches a
    regression of a third, not the 3 % the benchmarks watch.
    """
    import tracemalloc

    import gevent

    import socketio
    from socketio.namespace import BaseNamespace
    from socketio.server import SocketIOServer

    def application(environ: dict, start_response: Any) -> list[bytes]:
        socketio.socketio_manage(environ, {"": BaseNamespace})
        return []

    server = SocketIOServer(("127.0.0.1", 0), application, policy_server=False, log=None)
    server.start()
    count = 100
    conns: list[Any] = []
    try:
        # the first connections warm caches and imports up
        conns += [raw_websocket(server.server_port) for _ in range(10)]
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            conns += [raw_websocket(server.server_port) for _ in range(count)]
            wait_for(
                lambda: len(server.sockets) == len(conns), what="every session", sleep=gevent.sleep
            )
            gc.collect()
            per_connection = (tracemalloc.get_traced_memory()[0] - before) / count
        finally:
            tracemalloc.stop()
        assert per_connection < 12 << 10, per_connection
    finally:
        for conn in conns:
            conn.close()
        server.stop()


def test_a_server_given_a_pool_spawns_its_connections_there():
    import gevent
    import gevent.pool
    import gevent.socket

    from socketio.server import SocketIOServer

    pool = gevent.pool.Pool(4)
    seen: list[bool] = []

    def application(environ: dict, start_response: Any) -> list[bytes]:
        seen.append(gevent.getcurrent() in pool)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    server = SocketIOServer(
        ("127.0.0.1", 0), application, spawn=pool, policy_server=False, log=None
    )
    server.start()
    try:
        conn = gevent.socket.create_connection(("127.0.0.1", server.server_port))
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
        assert answer.endswith(b"ok")
        assert seen == [True]
        conn.close()
    finally:
        server.stop()
