"""The Flash policy server against clients that trickle or hoard connections.

The server runs in this process; its clients are gevent sockets, so both
sides take turns on one hub.
"""

from __future__ import annotations

import time

import gevent
import gevent.socket

from socketio.policyserver import POLICY, FlashPolicyServer
from tests.client09.waiting import wait_for


def _ask(port: int, request: bytes) -> bytes:
    with gevent.socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data


def _trickle(port: int, seconds: float) -> float:
    """Send one byte every 0.1 s; return how long the server kept the connection."""
    started = time.monotonic()
    with gevent.socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            while time.monotonic() - started < seconds:
                sock.sendall(b"<")
                gevent.sleep(0.1)
                sock.setblocking(False)
                try:
                    if sock.recv(1) == b"":
                        break
                except BlockingIOError:
                    pass
                finally:
                    sock.setblocking(True)
        except OSError:
            pass
    return time.monotonic() - started


def test_a_trickled_request_is_cut_at_the_deadline():
    server = FlashPolicyServer(("127.0.0.1", 0), read_timeout=0.5)
    server.start()
    try:
        held = _trickle(server.server_port, seconds=5)
        assert held < 2.5  # the per-read timeout alone would keep it for 5 s
        assert _ask(server.server_port, b"<policy-file-request/>\0") == POLICY
    finally:
        server.stop()


def test_connections_past_the_cap_wait_their_turn_and_are_served():
    server = FlashPolicyServer(("127.0.0.1", 0), read_timeout=0.5, max_connections=2)
    server.start()
    try:
        hoarders = [gevent.spawn(_trickle, server.server_port, 5) for _ in range(4)]
        wait_for(lambda: server.pool.free_count() == 0, what="a full pool", sleep=gevent.sleep)
        answer = gevent.spawn(_ask, server.server_port, b"<policy-file-request/>\0")
        assert answer.get(timeout=5) == POLICY
        gevent.joinall(hoarders, timeout=5)
        assert all(h.value is not None and h.value < 2.5 for h in hoarders)
    finally:
        server.stop()
