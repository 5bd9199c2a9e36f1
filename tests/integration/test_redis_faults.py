"""A hung or restarted redis-server must not stall handlers, nor cut processes apart for long.

Two ``server_app`` processes share a redis-server of their own (the
fixtures of :mod:`tests.integration.test_redis`), with the Redis manager's
default settings (``publish_timeout`` 0.5 s, ``max_backoff`` 1 s,
``health_interval`` 1 s). Redis is stopped with SIGSTOP (it then accepts
connections and data, the kernel does, but answers nothing, like a hung or
partitioned Redis) or killed and started again on the same port.
"""

from __future__ import annotations

import itertools
import re
import signal
import time
from collections.abc import Iterator

import pytest

from tests.client09.waiting import wait_for

from . import test_redis
from .conftest import LiveServer
from .test_redis import Client, RedisServer, WebsocketClient, start_servers

clients = test_redis.clients  # the fixture

#: The longest an emitting handler may take while Redis hangs (publish_timeout
#: is 0.5 s; generous: the machine is shared).
ACK_LIMIT = 1.5


@pytest.fixture
def cluster() -> Iterator[tuple[RedisServer, list[LiveServer]]]:
    redis_server = RedisServer().start()
    try:
        servers = start_servers(redis_server.url)
        yield redis_server, servers
        for server in servers:
            server.stop()
    finally:
        if redis_server.proc is not None:
            redis_server.proc.send_signal(signal.SIGCONT)
        redis_server.stop()


def crossed(sender: Client, receiver: Client, label: str, deadline: float) -> float:
    """Emit ``label n`` to room r1 from ``sender`` every 50 ms until ``receiver`` gets one.

    Returns:
        The monotonic time at which the first one arrived.
    """
    for n in itertools.count():
        assert sender.call("to_room", "r1", f"{label} {n}") == [None]
        got = [args for args in receiver.events("room_message") if args[1].startswith(label)]
        if got:
            return time.monotonic()
        assert time.monotonic() < deadline, f"nothing crossed from {sender} to {receiver}"
        time.sleep(0.05)
    raise AssertionError("unreachable")


def test_a_hung_redis_does_not_stall_emitting_handlers(cluster, clients):
    redis_server, (s1, s2) = cluster
    a = clients(WebsocketClient, s1, "a")
    b = clients(WebsocketClient, s1, "b")
    c = clients(WebsocketClient, s2, "c")
    for client in (a, b, c):
        assert client.call("join", "r1") == [["/chat_r1"]]
    crossed(a, c, "before", time.monotonic() + 5)

    assert redis_server.proc is not None
    redis_server.proc.send_signal(signal.SIGSTOP)
    try:
        latencies = []
        stopped = time.monotonic()
        n = 0
        while time.monotonic() - stopped < 3.0:
            started = time.monotonic()
            assert a.call("to_room", "r1", f"hung {n}") == [None]
            latencies.append(time.monotonic() - started)
            n += 1
            time.sleep(0.05)
        # Local members got every one, at once.
        b.wait_for(lambda pkts: ["r1", f"hung {n - 1}"] in b.events("room_message"), "local")
        assert [f"hung {i}" for i in range(n)] == [
            args[1] for args in b.events("room_message") if args[1].startswith("hung")
        ]
        assert max(latencies) < ACK_LIMIT, latencies
        # The listener of the idle process noticed too (its PING went unanswered).
        wait_for(lambda: "no answer to PING" in s2.log(), 3, "the idle listener's PING to fail")
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
    resumed = time.monotonic()
    crossed(a, c, "after", resumed + 5)
    crossed(c, a, "back", resumed + 5)
    assert time.monotonic() - resumed < 4

    # One warning for the outage, then one line with what was dropped.
    log1 = s1.log()
    assert log1.count("emits reach this process's clients only") == 1, log1
    assert log1.count("is unreachable") <= 1, log1
    dropped = re.findall(r"works again; (\d+) emits reached", log1)
    assert len(dropped) == 1, log1
    assert int(dropped[0]) > 0, log1


def test_delivery_resumes_within_two_seconds_of_a_redis_restart(cluster, clients):
    redis_server, (s1, s2) = cluster
    a = clients(WebsocketClient, s1, "a")
    c = clients(WebsocketClient, s2, "c")
    for client in (a, c):
        assert client.call("join", "r1") == [["/chat_r1"]]
    crossed(a, c, "before", time.monotonic() + 5)

    redis_server.kill()
    down = time.monotonic()
    # While it is down (for longer than max_backoff), handlers are answered at once.
    while time.monotonic() - down < 2.5:
        started = time.monotonic()
        assert a.call("to_room", "r1", "down") == [None]
        assert time.monotonic() - started < ACK_LIMIT
        time.sleep(0.1)
    redis_server.start()  # the same port
    back = time.monotonic()
    arrived = crossed(a, c, "after", back + 5)
    assert arrived - back < 2.0, arrived - back
    crossed(c, a, "return", back + 5)
    for server in (s1, s2):
        log = server.log()
        assert log.count("is unreachable") == 1, log
        assert log.count("is reachable again") == 1, log
