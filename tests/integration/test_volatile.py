"""Volatile emits against a live server, per transport, with the wire clients.

A volatile packet goes only if the client can take it now: a poll held
open, a websocket or stream with nothing waiting in its backlog. Otherwise
it is dropped and counted (``volatile_dropped``), never queued: a client
that cannot keep up skips samples instead of falling behind, and is never
made a slow consumer by them. Plain packets are never dropped.
"""

from __future__ import annotations

import json
import re
import socket

import pytest
import requests

from tests.client09.framing import event
from tests.client09.handshake import handshake
from tests.client09.polling import PollingClient
from tests.client09.waiting import wait_for
from tests.client09.websocket import WebSocketClient

from .conftest import LiveServer

MAX_QUEUE = 20
TICK = re.compile(r'^5::/volatile:\{"args":\[(\d+),"x*"\],"name":"tick"\}$')


def done(count: int) -> str:
    return f'5::/volatile:{{"args":[{count}],"name":"done"}}'


@pytest.fixture(scope="module")
def server():
    # A small queue limit: were volatile packets queued, these tests would
    # make slow consumers.
    live = LiveServer(max_queue_size=MAX_QUEUE).start()
    yield live
    live.stop()


def dropped(server: LiveServer, sid: str) -> list:
    """``[the session's drops, the server's, whether its vpush is done]``."""
    value = server.get_json(f"/_volatile?sid={sid}")
    assert value is not None, f"{sid} is gone"
    return value


def ticks(packets: list[str]) -> list[int]:
    return [int(m.group(1)) for m in map(TICK.match, packets) if m]


def vpush(count: int, size: int = 0, interval: float = 0.0) -> str:
    return event("/volatile", "vpush", count, size, interval)


def connected_polling(server: LiveServer, transport: str) -> PollingClient:
    client = PollingClient(server.url, transport)
    client.send("1::/volatile")
    assert client.packets() == ["1::/volatile"]
    return client


# -- polling -----------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["xhr-polling", "jsonp-polling"])
def test_between_polls_volatile_packets_are_dropped_and_plain_ones_kept(server, transport):
    client = connected_polling(server, transport)
    try:
        before = dropped(server, client.sid)
        client.send(vpush(50))  # and no GET is held while it pushes
        after = wait_for(lambda: (d := dropped(server, client.sid))[2] and d, what="the pushes")
        assert after[0] == 50
        assert after[1] - before[1] >= 50  # the server's count too
        assert server.get_json(f"/_queued?sid={client.sid}") == 1  # "done" only: nothing kept
        assert client.packets() == [done(50)]
        # Plain packets between polls are queued, all of them, in order.
        client.send(event("/volatile", "plain_push", 10))
        got: list[str] = []
        while len(got) < 10:
            got += client.packets()
        assert ticks(got) == list(range(10))
        assert dropped(server, client.sid)[0] == 50
    finally:
        client.close()


@pytest.mark.parametrize("transport", ["xhr-polling", "jsonp-polling"])
def test_faster_than_the_client_polls_a_few_arrive_in_order_never_piling_up(server, transport):
    client = connected_polling(server, transport)
    try:
        held = client.hold()
        client.send(vpush(50))  # 50 pushes, one per turn of the server's loop
        payloads = [held.packets()]
        assert ticks(payloads[0]) == [0]  # the held GET takes the first, alone
        while not any(p.endswith('"name":"done"}') for p in payloads[-1]):
            payloads.append(client.packets())
        got = ticks([p for payload in payloads for p in payload])
        assert got == sorted(set(got))
        assert len(got) <= 5, got  # a few: the others came between two polls
        assert all(len(ticks(payload)) <= 1 for payload in payloads)
        assert dropped(server, client.sid)[0] == 50 - len(got)
    finally:
        client.close()


def test_a_client_polling_throughout_gets_samples_one_per_poll(server):
    client = connected_polling(server, "xhr-polling")
    try:
        client.send(vpush(40, 0, 0.02))  # 0.8 s of pushes, slower than a poll's round trip
        payloads: list[list[str]] = []
        while not any("done" in p for p in (payloads[-1] if payloads else [])):
            payloads.append(client.packets())
        got = ticks([p for payload in payloads for p in payload])
        assert got == sorted(set(got))
        assert len(got) >= 10, got  # a client that keeps polling keeps getting samples
        assert all(len(ticks(payload)) <= 1 for payload in payloads)
        assert dropped(server, client.sid)[0] == 40 - len(got)
    finally:
        client.close()


# -- websocket -----------------------------------------------------------------------


def test_a_websocket_that_stops_reading_skips_samples_and_is_not_a_slow_consumer(server):
    offset = len(server.log())
    client = WebSocketClient(server.url)
    try:
        assert client.connect("/volatile") == "1::/volatile"
        # 64 MB were it all sent (the kernels' buffers take some 10 MB)
        client.emit("/volatile", "vpush", 1000, 65536, 0)
        # ...and it reads nothing until the pushes are over.
        after = wait_for(
            lambda: (d := dropped(server, client.sid))[2] and d, timeout=30, what="the pushes"
        )
        assert after[0] > 500  # most were dropped: the backlog was not empty
        assert client.sid in server.sockets()
        assert "slow consumer" not in server.log()[offset:]
        got = client.recv_until(done(1000), timeout=30)
        numbers = ticks(got)
        assert numbers == sorted(set(numbers))
        assert len(numbers) + after[0] == 1000
        assert client.call("/volatile", "dropped")[0][0] == after[0]
    finally:
        client.close()


def test_a_websocket_that_reads_gets_every_sample(server):
    client = WebSocketClient(server.url)
    try:
        assert client.connect("/volatile") == "1::/volatile"
        client.emit("/volatile", "vpush", 50, 10, 0.005)
        got = client.recv_until(done(50), timeout=10)
        assert ticks(got) == list(range(50))
        assert client.call("/volatile", "dropped")[0][0] == 0
    finally:
        client.close()


# -- streams -------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["htmlfile", "xhr-multipart"])
def test_a_stream_that_stops_reading_skips_samples(server, transport):
    offset = len(server.log())
    sid = handshake(server.url).sid
    stream = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        path = f"/socket.io/1/{transport}/{sid}"
        stream.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        post_url = f"{server.url}{path}"
        wait_for(lambda: requests.post(post_url, data="1::/volatile", timeout=5).text == "1")
        body = json.dumps({"name": "vpush", "args": [1000, 65536, 0]})
        requests.post(post_url, data=f"5::/volatile:{body}", timeout=5)
        # ...and the stream is not read until the pushes are over.
        after = wait_for(lambda: (d := dropped(server, sid))[2] and d, timeout=30, what="pushes")
        assert after[0] > 500
        assert sid in server.sockets()
        assert "slow consumer" not in server.log()[offset:]
        # Reading again, the stream carries what was taken, in order, then the plain packet.
        seen = b""
        while b"done" not in seen:
            chunk = stream.recv(1 << 20)
            assert chunk, "the stream ended"
            seen += chunk
        text = seen.decode("utf-8", "replace").replace('\\"', '"')
        numbers = [int(n) for n in re.findall(r'"args":\[(\d+),"x*"\],"name":"tick"', text)]
        assert numbers == sorted(set(numbers))
        assert len(numbers) + after[0] == 1000
    finally:
        stream.close()
