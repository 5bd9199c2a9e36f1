"""Volatile emits against the real 0.9.16 client in node.

The server (``server_app``'s ``/volatile``) pushes volatile ``tick`` events
from a socket job, then a plain ``done``. Over websocket a client that reads
gets every sample; over xhr-polling the samples pushed between two polls are
dropped: the client gets some, in order, never a backlog, and every packet
that is not volatile (the acks, ``done``) arrives.
"""

from __future__ import annotations

import pytest

from tests.client09.waiting import wait_for

from .conftest import LiveServer
from .node_client import NodeClient

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def server():
    live = LiveServer().start()
    yield live
    live.stop()


@pytest.fixture
def client(server):
    node = NodeClient(server.url)
    yield node
    node.close()


def samples(client: NodeClient) -> list[int]:
    return [args[0] for _label, event, args in client.events("v") if event == "tick"]


def test_a_websocket_client_that_reads_gets_every_sample(server, client):
    client.connect("v", "/volatile", "websocket")
    assert client.emit("v", "vpush", 50, 10, 0.01, ack=True) == [True]
    assert client.wait("v", "done") == [50]
    assert samples(client) == list(range(50))
    assert client.emit("v", "dropped", ack=True)[0][0] == 0


def test_an_xhr_polling_client_skips_the_samples_pushed_between_its_polls(server, client):
    client.connect("v", "/volatile", "xhr-polling")
    # bursts of 5 samples every 10 ms: a held poll takes the first of a burst,
    # the others come before the client can poll again
    assert client.emit("v", "vpush", 100, 10, 0.01, False, 5, ack=True) == [True]
    assert client.wait("v", "done") == [100]
    got = samples(client)
    assert got == sorted(set(got))
    assert 0 < len(got) <= 20
    assert all(n % 5 == 0 for n in got)
    lost = client.emit("v", "dropped", ack=True)[0][0]
    assert lost == 100 - len(got)
    # the session goes on, and plain packets are never dropped
    assert client.emit("v", "plain_push", 20, ack=True) == [True]
    wait_for(lambda: len(samples(client)) >= len(got) + 20, what="the 20 plain ticks")
    assert samples(client)[len(got) :] == list(range(20))
