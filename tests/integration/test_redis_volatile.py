"""Volatile emits across processes: the flag travels in the Redis message.

Two ``server_app`` processes share a real redis-server (the fixtures of
test_redis.py). A volatile broadcast made in one process, or published by
an :class:`~socketio.emitter.Emitter`, is dropped in the other process for a
client that cannot take it now (a polling client between polls) exactly as
it would be locally, and counted there; a client that can take it gets it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from socketio.emitter import Emitter
from tests.client09.framing import event
from tests.client09.polling import PollingClient
from tests.client09.waiting import wait_for
from tests.client09.websocket import WebSocketClient

from .conftest import LiveServer
from .test_redis import RedisServer, start_servers
from .test_volatile import done, dropped, ticks


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[RedisServer, list[LiveServer]]]:
    redis_server = RedisServer().start()
    servers = start_servers(redis_server.url)
    yield redis_server, servers
    for server in servers:
        server.stop()
    redis_server.stop()


def polling_member(server: LiveServer) -> PollingClient:
    client = PollingClient(server.url)
    client.send("1::/volatile")
    assert client.packets() == ["1::/volatile"]
    return client


def test_a_volatile_broadcast_is_dropped_remotely_for_a_client_between_polls(cluster):
    _, (a, b) = cluster
    sender = WebSocketClient(a.url)
    remote = polling_member(b)
    try:
        assert sender.connect("/volatile") == "1::/volatile"
        before = dropped(b, remote.sid)
        # 50 volatile broadcasts from a; b's member holds no GET meanwhile.
        sender.send(event("/volatile", "vpush", 50, 0, 0.0, True))
        got = sender.recv_until(done(50))
        assert ticks(got) == list(range(50))  # a's reading member took every one
        after = wait_for(lambda: (d := dropped(b, remote.sid))[0] == 50 and d, what="b's drops")
        assert after[1] - before[1] >= 50  # b's server counted them too
        # Nothing was queued for it: its next poll carries a plain packet only.
        remote.send(event("/volatile", "plain_push", 1))
        assert ticks(remote.packets()) == [0]
    finally:
        sender.close()
        remote.close()


def test_an_emitters_volatile_emit_reaches_a_held_poll_and_skips_the_others(cluster):
    redis_server, (_, b) = cluster
    waiting = polling_member(b)
    idle = polling_member(b)
    try:
        held = waiting.hold()
        with Emitter(redis_server.url) as emitter:
            assert emitter.emit("tick", 7, "", namespace="/volatile", volatile=True) == 2
            assert ticks(held.packets()) == [7]
            wait_for(lambda: dropped(b, idle.sid)[0] == 1, what="the idle client's drop")
            assert dropped(b, waiting.sid)[0] == 0
            # A plain emit is queued for the idle client, as ever.
            emitter.emit("tick", 8, "", namespace="/volatile")
            assert ticks(idle.packets()) == [8]
    finally:
        waiting.close()
        idle.close()
