"""Ack timeouts against the real 0.9.16 client in node, a client that never acks.

The lifecycle client (``tests/js/lifecycle_client.js``) records the events the
server emits and never calls their ack function: exactly the client the
feature is for. The server (``server_app``'s ``/chat`` ``ask_within``) emits
``question`` with ``ack_timeout`` and reports what its callback got as
``ask_outcome``.
"""

from __future__ import annotations

import json

import pytest

from .conftest import LiveServer
from .node_client import NodeClient
from .test_node_client import wire

pytestmark = pytest.mark.node

TRANSPORTS = ["websocket", "xhr-polling"]


@pytest.fixture(scope="module")
def server():
    live = LiveServer(config=json.dumps({"max_pending_acks": 2})).start()
    yield live
    live.stop()


@pytest.fixture
def client(server):
    node = NodeClient(server.url)
    yield node
    node.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_client_that_never_acks_has_its_callback_timed_out(server, client, transport):
    client.connect("c", "/chat", transport)
    client.emit("c", "ask_within", "still there?", 0.3)
    assert client.wait("c", "question")[0] == "still there?"
    assert client.wait("c", "ask_outcome", ms=3000) == ["timeout", 1, False]
    # the client asked for an ack and never sent one; the session goes on
    assert not [p for p in client.wire("out") if p.startswith("6:")]
    assert any(p.startswith("5:1+:/chat:") for p in client.wire("in"))
    assert client.emit("c", "echo", "after", ack=True) == ["after"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_past_max_pending_acks_the_oldest_is_given_up_early(server, client, transport):
    client.connect("c", "/chat", transport)
    for n in range(3):
        client.emit("c", "ask_within", f"q{n}", 30)
    # max_pending_acks is 2: the third emit gives up the first, long before 30 s
    assert client.wait("c", "ask_outcome", ms=3000) == ["timeout", 1, True]
    outcomes = [args for _label, event, args in client.events("c") if event == "ask_outcome"]
    assert outcomes == [["timeout", 1, True]]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_ack_in_time_reaches_the_callback_and_no_timeout_follows(server, scenario, transport):
    out = scenario(server, "ack_in_time", transport)
    r = out["results"]
    assert r["outcome"] == ["acked", ["answer to quick?"]]
    assert r["outcomes"] == 1  # 1.3 s later: the timeout never fired
    assert [p for p in wire(out, "out") if p.startswith("6:")] == [
        '6::/chat:1+["answer to quick?"]'
    ]
