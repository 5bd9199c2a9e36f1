"""Per-session rate limits (``rate_limit``) against the real 0.9.16 client and the wire clients.

A client emitting past its limit has the excess dropped before any handler
runs and its ``error`` event gets ``('rate_limited', <what the limit is>)``
(the 0.3 way of telling a client of an error: an ``error`` event, since a
``7:`` packet can only carry the three reasons the 0.9 client knows); the
server writes one line for the session, other sessions keep their pace, and
with ``rate_limit_grace`` a client that goes on is booted. With the Redis
manager the limit is the serving process's, and what it drops publishes
nothing.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.client09.polling import PollingClient
from tests.client09.waiting import wait_for
from tests.client09.websocket import WebSocketClient

from .conftest import LiveServer
from .node_client import NodeClient
from .test_redis import RedisServer

LIMIT = {"rate_limit": 5, "rate_limit_burst": 10}


@pytest.fixture(params=["websocket", "xhr-polling"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


def _echo_within(client: NodeClient, label: str, ms: int) -> object:
    """The ack of one ``echo`` on ``label``, or ``None`` if none came within ``ms``."""
    try:
        return client.call("emit", label=label, event="echo", args=["back"], ack=True, ms=ms)
    except AssertionError:
        return None


def _acked(client: NodeClient, label: str, at_least: int) -> int:
    """How many of ``label``'s flood were acked, if at least ``at_least`` (else 0)."""
    acked = client.call("flooded", label=label)["acked"]
    return acked if acked >= at_least else 0


@pytest.mark.node
def test_a_flooding_client_gets_its_burst_then_an_error_and_others_keep_going(
    make_server, transport
):
    server = make_server(config=json.dumps(LIMIT))
    client = NodeClient(server.url)
    try:
        sid = client.connect("a", "", transport)
        client.connect("b", "", transport)
        started = time.monotonic()
        client.call("flood", label="a", event="echo", count=200)
        assert client.wait("a", "error") == [
            "rate_limited",
            "Too many packets: at most 5 per second (10 at once); 1 dropped",
        ]
        # another socket on the same server is not held back
        assert client.emit("b", "echo", "other", ack=True) == ["other"]
        acked = wait_for(lambda: _acked(client, "a", at_least=10), 5, "the burst's acks")
        assert acked <= 10 + 5 * (time.monotonic() - started) + 1
        # past the flood, the client's events pass again (tokens come back)
        assert wait_for(lambda: _echo_within(client, "a", 400), 5, "an echo after the flood") == [
            "back"
        ]
        assert client.call("state", label="a")["connected"] is True
        lines = [line for line in server.log().splitlines() if "past its rate limit" in line]
        assert len(lines) == 1
        assert sid in lines[0]
    finally:
        client.close()


@pytest.mark.node
def test_past_its_grace_a_flooding_client_is_booted(make_server, transport):
    server = make_server(config=json.dumps({**LIMIT, "rate_limit_grace": 1}))
    client = NodeClient(server.url)
    try:
        sid = client.connect("a", "", transport)
        client.call("flood", label="a", event="echo", count=1000, every=20)  # 50 a second
        assert client.wait("a", "error")[0] == "rate_limited"
        assert client.wait("a", "disconnect", ms=8000) == ["booted"]
        state = client.call("state", label="a")
        assert state["connected"] is False
        assert state["reconnecting"] is False
        wait_for(lambda: sid not in server.sockets(), 5, "the session gone")
        assert "disconnected" in [a for c, e, a in client.events("a") if e == "error"][-1][1]
        assert "past its rate limit for 1s: disconnecting it" in server.log()
    finally:
        client.close()


def test_a_post_of_many_events_is_cut_to_the_burst(make_server):
    server = make_server(config=json.dumps(LIMIT))
    client = PollingClient(server.url)
    try:
        client.send(*[f'5:{n}+::{{"name":"echo","args":[{n}]}}' for n in range(1, 31)])
        got = client.packets()
        assert got[:10] == [f"6:::{n}+[{n}]" for n in range(1, 11)]
        assert got[10:] == [
            '5:::{"args":["rate_limited","Too many packets: at most 5 per second (10 at once); '
            '1 dropped"],"name":"error"}'
        ]
    finally:
        client.close()


def test_heartbeats_and_acks_are_never_counted(make_server):
    server = make_server(config=json.dumps({"rate_limit": 1, "rate_limit_burst": 3}))
    client = PollingClient(server.url)
    try:
        client.send(*["2::"] * 50, *["6:::7"] * 50, '5:1+::{"name":"echo","args":[1]}')
        assert client.packets() == ["6:::1+[1]"]
    finally:
        client.close()


def test_without_a_limit_nothing_is_dropped(live_server):
    client = PollingClient(live_server.url)
    try:
        client.send(*[f'5:{n}+::{{"name":"echo","args":[{n}]}}' for n in range(1, 201)])
        got: list[str] = []
        while len(got) < 200:
            got += client.packets()
        assert got == [f"6:::{n}+[{n}]" for n in range(1, 201)]
    finally:
        client.close()


def test_with_the_redis_manager_only_what_passes_is_broadcast():
    """The limit is the serving process's: the dropped events publish nothing on the bus."""
    redis_server = RedisServer().start()
    servers = [
        LiveServer(manager=redis_server.url, config=json.dumps(LIMIT)).start() for _ in range(2)
    ]
    try:
        flooder = WebSocketClient(servers[0].url)
        listener = WebSocketClient(servers[1].url)
        assert flooder.connect("/chat") == "1::/chat"
        assert listener.connect("/chat") == "1::/chat"
        flooder.recv_until('5::/chat:{"args":["/chat"],"name":"welcome"}')
        listener.recv_until('5::/chat:{"args":["/chat"],"name":"welcome"}')
        for n in range(1, 31):
            flooder.emit("/chat", "broadcast", str(n), msgid=n)
        seen = flooder.recv_until(
            '5::/chat:{"args":["rate_limited","Too many packets: at most 5 per second '
            '(10 at once); 1 dropped"],"name":"error"}'
        )
        acked = [raw.split(":")[3].split("+")[0] for raw in seen if raw.startswith("6::/chat:")]
        # (the namespace connect took one of the burst's 10 tokens)
        assert acked == [str(n) for n in range(1, 10)]
        heard = listener.recv_until('5::/chat:{"args":["9"],"name":"broadcast"}')
        texts = [json.loads(raw.split(":", 3)[3])["args"][0] for raw in heard]
        assert texts == [str(n) for n in range(1, 10)]
        flooder.close()
        listener.close()
    finally:
        for server in servers:
            server.stop()
        redis_server.stop()
