"""Cluster-wide counts in a real redis-server: :mod:`socketio.redis_counts`.

First :class:`~socketio.redis_counts.RedisCounts` alone, in this process, as
two "processes" writing to one redis-server (what lands in Redis, the diffs,
expiry, a Redis that lost its data, a hung Redis). Then two ``server_app``
processes with ``?count_interval=0.2`` in their manager URL, whose clients
join rooms and ask for the lists and counts (``/chat``'s ``who`` event and
the ``/_listing`` view), while Redis runs, hangs (SIGSTOP) and restarts.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis
import requests

from socketio.exceptions import CountUnavailable
from socketio.redis_counts import PRUNE_EVERY, RedisCounts, field_name
from tests.client09.waiting import wait_for

from . import test_redis
from .conftest import ROOT, LiveServer
from .test_redis import RedisServer, WebsocketClient, start_servers

clients = test_redis.clients  # the fixture

ERRORS = (redis.exceptions.RedisError, OSError)

#: the longest a count may take when Redis hangs (publish_timeout 0.5 s; the machine is shared)
HUNG_LIMIT = 1.5


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    if server.proc is not None:
        server.proc.send_signal(signal.SIGCONT)
    server.stop()


def make_counts(url: str, host: str, groups: dict, interval: float = 0.2) -> RedisCounts:
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=1.0)
    return RedisCounts(client, "app", host, interval, lambda: dict(groups), ERRORS)


def test_two_processes_counts_add_up_and_only_changes_are_written(redis_server):
    g1 = {("/chat", None): 3, ("/chat", "lobby"): 2}
    g2 = {("/chat", None): 1, ("/chat", "lobby"): 1, ("/news", None): 1}
    p1, p2 = make_counts(redis_server.url, "h1", g1), make_counts(redis_server.url, "h2", g2)
    p1.write()
    p2.write()
    assert p1.count("/chat") == 4
    assert p2.count("/chat", "lobby") == 3
    assert p1.count("/news") == 1
    assert p1.count("/chat", "nowhere") == 0
    assert p1.count("/nowhere") == 0

    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    assert r.smembers("app:counts:hosts") == {"h1", "h2"}
    assert r.hgetall("app:counts:h1") == {'["/chat",null]': "3", '["/chat","lobby"]': "2", "*": "1"}
    assert 0 < r.pttl("app:counts:h1") <= 1000

    # The next write sends what changed, and removes what is gone.
    g1[("/chat", "lobby")] = 1
    del g1[("/chat", None)]
    g1[("/chat", 'odd "name", with [brackets]')] = 1
    p1.write()
    assert r.hgetall("app:counts:h1") == {
        '["/chat","lobby"]': "1",
        field_name("/chat", 'odd "name", with [brackets]'): "1",
        "*": "1",
    }
    assert p2.count("/chat", 'odd "name", with [brackets]') == 1
    assert p2.count("/chat", "lobby") == 2


def test_a_process_that_stops_writing_is_not_counted_once_its_hash_expires(redis_server):
    p1 = make_counts(redis_server.url, "h1", {("/chat", None): 3})
    p2 = make_counts(redis_server.url, "h2", {("/chat", None): 5})
    p1.write()
    p2.write()
    assert p1.count("/chat") == 8
    started = time.monotonic()

    def h1_alone() -> bool:
        p1.write()  # h1's heartbeat goes on, h2's has stopped
        return p1.count("/chat") == 3

    wait_for(h1_alone, 3, "h2's counts to expire")
    assert 0.8 < time.monotonic() - started < 2.0  # three intervals, at least a second
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    assert r.smembers("app:counts:hosts") == {"h1"}  # the query took the dead host out
    # A process that closes takes its counts out at once.
    p1.stop()
    assert p2.count("/chat") == 0
    assert r.smembers("app:counts:hosts") == set()


def test_the_heartbeats_take_dead_hosts_out_without_any_query(redis_server):
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    r.sadd("app:counts:hosts", "dead1", "dead2")  # processes whose hashes expired
    p1 = make_counts(redis_server.url, "h1", {("/chat", None): 1})
    p1.write()  # the first heartbeat prunes, and then one in ten
    assert r.smembers("app:counts:hosts") == {"h1"}
    r.sadd("app:counts:hosts", "dead3")
    for _ in range(PRUNE_EVERY):
        p1.write()
    assert r.smembers("app:counts:hosts") == {"h1"}


def test_a_redis_that_lost_the_hash_gets_everything_again(redis_server):
    groups = {("/chat", None): 2, ("/chat", "r"): 1}
    p1 = make_counts(redis_server.url, "h1", groups)
    p1.write()
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    r.flushall()  # as a restarted Redis that persists nothing
    groups[("/chat", "r")] = 2
    p1.write()  # a diff would write only the room; the hash was gone, so all of it
    assert p1.count("/chat") == 2
    assert p1.count("/chat", "r") == 2


def test_a_hung_redis_raises_count_unavailable_in_bounded_time(redis_server):
    p1 = make_counts(redis_server.url, "h1", {("/chat", None): 1})
    p1.write()
    assert redis_server.proc is not None
    redis_server.proc.send_signal(signal.SIGSTOP)
    started = time.monotonic()
    with pytest.raises(CountUnavailable) as info:
        p1.count("/chat", "lobby")
    assert time.monotonic() - started < HUNG_LIMIT
    assert (info.value.endpoint, info.value.room) == ("/chat", "lobby")
    assert "room 'lobby' of '/chat'" in str(info.value)
    redis_server.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: p1.count("/chat") == 1, 3, "counting to work again")
    redis_server.kill()
    started = time.monotonic()
    with pytest.raises(CountUnavailable):
        p1.count("/chat")
    assert time.monotonic() - started < HUNG_LIMIT


# -- two server processes ------------------------------------------------------


@pytest.fixture
def cluster(redis_server) -> Iterator[tuple[RedisServer, list[LiveServer]]]:
    servers = start_servers(f"{redis_server.url}?count_interval=0.2")
    yield redis_server, servers
    for server in servers:
        server.stop()


def who(client, room=None) -> dict:
    """What ``/chat``'s ``who`` handler answers: the listing methods of the namespace."""
    return client.call("who", room)[0]


def cluster_is(client, room, expected) -> bool:
    return who(client, room)["cluster"] == expected


def test_lists_are_local_and_the_count_is_cluster_wide(cluster, clients):
    redis_server, (s1, s2) = cluster
    a = clients(WebsocketClient, s1, "a")
    b = clients(WebsocketClient, s1, "b")
    c = clients(WebsocketClient, s2, "c")
    assert a.call("join", "r1") == [["/chat_r1"]]
    assert b.call("join", "r2") == [["/chat_r2"]]
    assert c.call("join", "r1") == [["/chat_r1"]]
    assert c.call("join", "r3") == [["/chat_r1", "/chat_r3"]]

    answer = who(a, "r1")
    assert answer["clients"] == [a.sid]  # this process's sockets only
    assert answer["count"] == 1
    assert answer["mine"] == ["r1"]
    assert answer["rooms"] == ["r1", "r2"]  # the rooms of this process
    assert who(c)["rooms"] == ["r1", "r3"]
    assert a.call("rooms_of", b.sid) == [["r2"]]
    assert a.call("rooms_of", c.sid) == [[]]  # another process's socket: not known here
    # every process's sockets, as of each one's last heartbeat (0.2 s)
    wait_for(lambda: cluster_is(a, "r1", 2), 3, "the cluster count of r1")
    assert cluster_is(c, None, 3)
    assert cluster_is(b, "r3", 1)

    # the same by server, by namespace name (a WSGI view)
    listed = requests.get(s2.url + "/_listing", params={"ns": "/chat", "room": "r1"}, timeout=5)
    assert listed.json() == {"clients": [c.sid], "count": 1, "rooms": ["r1", "r3"]}

    # a client that leaves is counted out within a heartbeat or so
    assert c.call("leave", "r1") == [["/chat_r3"]]
    wait_for(lambda: cluster_is(a, "r1", 1), 3, "the cluster count after a leave")
    # a process that dies is counted out when its hash expires (3 intervals, 1 s at least)
    assert s2.proc is not None
    s2.proc.kill()
    killed = time.monotonic()
    wait_for(lambda: cluster_is(a, None, 2), 3, "the cluster count without s2")
    assert time.monotonic() - killed < 2.0
    # one that stops takes its hash out of Redis at once
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    assert len([k for k in r.keys("socketio:counts:*") if k != "socketio:counts:hosts"]) == 1
    s1.stop()
    assert [k for k in r.keys("socketio:counts:*") if k != "socketio:counts:hosts"] == []


def test_a_hung_or_restarted_redis_makes_counts_unavailable_not_handlers_slow(cluster, clients):
    redis_server, (s1, s2) = cluster
    a = clients(WebsocketClient, s1, "a")
    b = clients(WebsocketClient, s1, "b")
    c = clients(WebsocketClient, s2, "c")
    for client in (a, c):
        assert client.call("join", "r1") == [["/chat_r1"]]
    wait_for(lambda: cluster_is(a, "r1", 2), 3, "the cluster count of r1")

    assert redis_server.proc is not None
    redis_server.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        answer = who(a, "r1")
        took = time.monotonic() - started
        assert answer["cluster"].startswith("CountUnavailable: the cluster-wide count of room")
        assert took < HUNG_LIMIT, took
        assert answer["clients"] == [a.sid]  # the local lists need no Redis
        assert answer["count"] == 1
        # another client of the same process is not held up meanwhile
        a.send('5:99+:/chat:{"name":"who","args":["r1"]}')
        started = time.monotonic()
        assert b.call("echo", "quick") == ["quick"]
        assert time.monotonic() - started < 0.5
        a.wait_for(lambda pkts: any(p.startswith("6::/chat:99+") for p in pkts), "the 2nd who")
    finally:
        redis_server.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: cluster_is(a, "r1", 2), 5, "counts after Redis woke up")

    redis_server.kill()
    assert who(a, "r1")["cluster"].startswith("CountUnavailable")
    redis_server.start()  # the same port, empty: each process writes all its counts again
    wait_for(lambda: cluster_is(c, "r1", 2), 5, "counts after Redis restarted")
    for server in (s1, s2):
        log = server.log()
        assert log.count("writing this process's counts to Redis failed") <= 2, log


def test_count_interval_from_the_url_or_the_keyword_and_off_by_default():
    """In a process of its own: the Redis manager wants gevent's monkey patching."""
    script = (
        "from gevent import monkey; monkey.patch_all()\n"
        "from socketio.exceptions import ConfigError\n"
        "from socketio.redis_manager import RedisManager\n"
        "url = 'redis://127.0.0.1:1/0'\n"
        "assert RedisManager(url).counts is None\n"
        "m = RedisManager(url + '?count_interval=0.5&channel=c')\n"
        "assert (m.counts.interval, m.counts.key) == (0.5, 'c:counts:' + m.host_id)\n"
        "assert 'count_interval' not in m.url\n"
        "assert RedisManager(url + '?count_interval=9', count_interval=2).counts.interval == 2\n"
        "try:\n"
        "    RedisManager(url + '?count_interval=soon')\n"
        "except ConfigError as exc:\n"
        "    assert 'count_interval' in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('no ConfigError')\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=30)
