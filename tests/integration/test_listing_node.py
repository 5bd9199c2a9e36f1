"""Who is connected, with the real 0.9.16 client in node joining rooms.

Three node client sockets enter ``/chat`` of a ``server_app`` process (the
memory manager) and join rooms through its ``join`` event; ``who`` answers
with the namespace's listing methods (``clients``, ``count_clients``,
``cluster_count``, ``rooms_of``, ``all_rooms``) and ``/_listing`` with the
server-level functions of :mod:`socketio.listing`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.client09.waiting import wait_for

from .conftest import LiveServer
from .node_client import NodeClient

pytestmark = pytest.mark.node

TRANSPORTS = ["websocket", "xhr-polling"]


@pytest.fixture
def server() -> Iterator[LiveServer]:
    live = LiveServer().start()
    yield live
    live.stop()


@pytest.fixture
def client(server) -> Iterator[NodeClient]:
    node = NodeClient(server.url)
    yield node
    node.close()


def listed(server: LiveServer, room: str | None = None) -> dict:
    params = {"ns": "/chat"} if room is None else {"ns": "/chat", "room": room}
    return requests.get(server.url + "/_listing", params=params, timeout=5).json()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_clients_and_rooms_as_node_clients_join_and_leave(server, client, transport):
    sid = {name: client.connect(name, "/chat", transport) for name in "abc"}
    assert client.emit("a", "join", "r1", ack=True) == [["/chat_r1"]]
    assert client.emit("b", "join", "r1", ack=True) == [["/chat_r1"]]
    assert client.emit("b", "join", "r2", ack=True) == [["/chat_r1", "/chat_r2"]]
    assert client.emit("c", "join", "r3", ack=True) == [["/chat_r3"]]

    [who] = client.emit("a", "who", "r1", ack=True)
    assert who == {
        "clients": sorted([sid["a"], sid["b"]]),
        "count": 2,
        "cluster": 2,  # the memory manager: the process is the cluster
        "mine": ["r1"],
        "rooms": ["r1", "r2", "r3"],
    }
    [everyone] = client.emit("c", "who", ack=True)
    assert everyone["clients"] == sorted(sid.values())
    assert everyone["mine"] == ["r3"]
    assert client.emit("c", "rooms_of", sid["b"], ack=True) == [["r1", "r2"]]
    assert listed(server, "r1") == {
        "clients": sorted([sid["a"], sid["b"]]),
        "count": 2,
        "rooms": ["r1", "r2", "r3"],
    }

    # b leaves a room, c leaves the namespace (0::/chat), a closes its socket
    assert client.emit("b", "leave", "r1", ack=True) == [["/chat_r2"]]
    client.call("leave", label="c")
    wait_for(lambda: listed(server)["rooms"] == ["r1", "r2"], 5, "c out of /chat")
    client.call("disconnect", label="a")
    wait_for(lambda: listed(server)["count"] == 1, 5, "a gone")
    [after] = client.emit("b", "who", "r1", ack=True)
    assert after == {"clients": [], "count": 0, "cluster": 0, "mine": ["r2"], "rooms": ["r2"]}
    assert listed(server) == {"clients": [sid["b"]], "count": 1, "rooms": ["r2"]}
