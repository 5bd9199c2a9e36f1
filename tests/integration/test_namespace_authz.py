"""Namespace authorization (``BaseNamespace.authorize_connect``) with the real 0.9.16 client.

The reference server's ``of('/vip').authorization(fn)``: a refused namespace
connect is answered ``7::/vip:2`` (reason unauthorized, no advice), which the
0.9.16 client's namespace turns into ``connect_failed`` (``'unauthorized'``);
the connect is not echoed, no namespace is created on the server, and the
socket's other namespaces go on. ``/vip`` of ``server_app.py`` lets in the
clients whose requests carry ``token=vip`` (the client's ``query`` option).
"""

from __future__ import annotations

import pytest

from tests.client09.websocket import WebSocketClient

from .node_client import NodeClient

pytestmark = pytest.mark.node


@pytest.fixture(params=["websocket", "xhr-polling"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


def test_a_refused_namespace_fails_to_connect_and_the_socket_lives_on(live_server, transport):
    client = NodeClient(live_server.url)
    try:
        sid = client.connect("a", "", transport)
        client.call("of", **{"from": "a"}, label="vip", ns="/vip", noWait=True)
        assert client.wait("vip", "connect_failed") == ["unauthorized"]
        received = client.wire("in")
        assert "7::/vip:2" in received
        assert not any(p.startswith("1::/vip") for p in received)  # no echo
        hooks = [e for e in live_server.events() if e[1] == "/vip" and e[2] == sid]
        assert hooks == []  # neither initialize nor recv_connect: never created
        # the socket and its global namespace go on
        assert client.emit("a", "echo", "still here", ack=True) == ["still here"]
        assert client.call("state", label="a")["connected"] is True
        assert sid in live_server.sockets()
        assert "error" not in [e for c, e, _ in client.events() if c == "vip"]
    finally:
        client.close()


def test_an_authorized_client_enters(live_server, transport):
    client = NodeClient(live_server.url)
    try:
        sid = client.connect("a", "", transport, query="token=vip")
        assert client.call("of", **{"from": "a"}, label="vip", ns="/vip") is True
        assert client.emit("vip", "echo", "in", ack=True) == ["in"]
        kinds = [e[0] for e in live_server.events() if e[1] == "/vip" and e[2] == sid]
        assert kinds[:2] == ["initialize", "recv_connect"]
    finally:
        client.close()


def test_a_refused_client_flooding_the_namespace_calls_the_hook_once_per_connect(live_server):
    """An attack: the hook runs per connect packet, not per packet (issue 20 debt)."""
    client = WebSocketClient(live_server.url)
    try:
        assert client.connect("/vip") == "7::/vip:2"
        for n in range(1, 501):
            client.emit("/vip", "echo", n, msgid=n)
        client.send("1::/vip")
        client.emit("", "echo", "done", msgid=501)
        answers = client.recv_until('6:::501+["done"]')
        assert answers == ["7::/vip:2"] * 501 + ['6:::501+["done"]']  # the wire is unchanged
        calls = [sid for sid in live_server.get_json("/_authz_calls") if sid == client.sid]
        assert len(calls) == 2  # the first connect and the last (before: 502)
    finally:
        client.close()
