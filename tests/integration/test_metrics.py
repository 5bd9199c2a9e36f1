"""Metrics scraped from the real Prometheus exporter of a server process.

The server (``server_app``) runs with ``metrics_listener`` on a port of its
own; the clients are the wire client (exact counts: every packet and byte
is known) and the real 0.9.16 node client (a whole session), over websocket
and xhr-polling; the Redis manager's bus with a real redis-server. The
Socket.IO port never serves the metrics, and without ``metrics_listener``
nothing does.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.client09.framing import parse
from tests.client09.polling import PollingClient
from tests.client09.waiting import wait_for
from tests.client09.websocket import WebSocketClient

from .conftest import ROOT, LiveServer, free_port
from .examples import ExampleServer
from .test_redis import RedisServer

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class MeteredServer(LiveServer):
    """The test server with its metrics listener on a free port of 127.0.0.1."""

    def __init__(self, **options: object) -> None:
        self.metrics_port = free_port()
        config = {"metrics_listener": ["127.0.0.1", self.metrics_port]}
        super().__init__(config=json.dumps(config), **options)

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def scrape(self) -> Samples:
        """Every sample of ``GET /metrics``: (name, sorted labels) → value."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            text = resp.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        """One sample now (0 if it is absent: a gauge family with nothing to count)."""
        return self.scrape().get((name, tuple(sorted(labels.items()))), 0.0)

    def wait_value(self, name: str, wanted: float, **labels: str) -> None:
        wait_for(lambda: self.value(name, **labels) == wanted, what=f"{name}{labels} == {wanted}")


@pytest.fixture
def metered() -> Iterator[Callable[..., MeteredServer]]:
    servers: list[MeteredServer] = []

    def make(**options: object) -> MeteredServer:
        server = MeteredServer(**options)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def test_websocket_session_counted_exactly(metered: Callable[..., MeteredServer]) -> None:
    server = metered()
    client = WebSocketClient(server.url)
    sent = '5:1+::{"name":"echo","args":["h\u00e9llo \u2603"]}'
    client.send(sent)
    ack = client.recv()
    assert ack.startswith("6:::1+")
    assert server.value("socketio_sessions", transport="websocket") == 1
    assert server.value("socketio_namespace_sessions", namespace="") == 1
    client.send("0::")
    server.wait_value("socketio_disconnects_total", 1, reason="client")
    client.close()
    samples = server.scrape()

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    ws = {"transport": "websocket"}
    assert value("socketio_handshakes_total", outcome="accepted") == 1
    assert value("socketio_connects_total", **ws) == 1
    assert value("socketio_packets_received_total", **ws) == 2  # the event, 0::
    assert value("socketio_received_bytes_total", **ws) == _size(sent) + _size("0::")
    assert value("socketio_packets_sent_total", **ws) == 3  # 1::, the ack, 0::
    assert value("socketio_sent_bytes_total", **ws) == _size("1::") + _size(ack) + _size("0::")
    assert value("socketio_error_packets_sent_total", **ws) == 0
    assert value("socketio_sessions", **ws) == 0
    assert value("socketio_acks_pending") == 0
    assert ("socketio_redis_bus_up", ()) not in samples  # (the memory manager has no bus)


def test_polling_session_counted_exactly(metered: Callable[..., MeteredServer]) -> None:
    server = metered()
    client = PollingClient(server.url)  # the handshake, and a GET answered 1::
    sent = '5:1+::{"name":"echo","args":["\U0001f600"]}'
    client.send(sent, "5:::{}")  # two packets in one framed body (the second one is bad)
    answer = client.get()
    polling = {"transport": "xhr-polling"}
    assert server.value("socketio_sessions", **polling) == 1
    client.close()  # posts 0::
    server.wait_value("socketio_disconnects_total", 1, reason="client")
    samples = server.scrape()

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    framed = f"\ufffd{len(sent.encode('utf-16-le')) // 2}\ufffd{sent}\ufffd6\ufffd5:::{{}}"
    assert value("socketio_connects_total", **polling) == 1
    assert value("socketio_packets_received_total", **polling) == 3
    assert value("socketio_received_bytes_total", **polling) == _size(framed) + _size("0::")
    assert value("socketio_sent_bytes_total", **polling) == _size("1::") + _size(answer)
    assert value("socketio_packets_sent_total", **polling) >= 2  # 1::, the ack (and an error?)


@pytest.mark.parametrize("transport", ["websocket", "xhr-polling"])
def test_node_client_session(
    metered: Callable[..., MeteredServer], scenario: Any, transport: str
) -> None:
    server = metered()
    report = scenario(server, "connect_global", transport)
    assert report["results"]["transport"] == transport
    server.wait_value("socketio_disconnects_total", 1, reason="client")
    samples = server.scrape()
    labels = (("transport", transport),)
    assert samples[("socketio_handshakes_total", (("outcome", "accepted"),))] == 1
    assert samples[("socketio_connects_total", labels)] == 1
    # echo and whoami with acks, then 0:: (at least: a 0.9.16 client may add heartbeats)
    assert samples[("socketio_packets_received_total", labels)] >= 3
    assert samples[("socketio_packets_sent_total", labels)] >= 3  # 1::, two acks
    assert samples[("socketio_received_bytes_total", labels)] > 0
    assert samples[("socketio_sent_bytes_total", labels)] > 0
    assert samples.get(("socketio_sessions", labels), 0) == 0


def test_refused_handshake_and_error_answers_counted(
    metered: Callable[..., MeteredServer],
) -> None:
    server = metered(authorization_token="s3cret")
    assert requests.get(server.url + "/socket.io/1/", timeout=5).status_code == 403
    ok = requests.get(server.url + "/socket.io/1/", params={"token": "s3cret"}, timeout=5)
    assert ok.status_code == 200
    # an unknown session: the error packet 7:::1+0
    answer = requests.get(server.url + "/socket.io/1/xhr-polling/nosuchsession", timeout=5)
    assert answer.text == "7:::1+0"
    samples = server.scrape()
    polling = (("transport", "xhr-polling"),)
    assert samples[("socketio_error_packets_sent_total", polling)] == 1
    assert samples[("socketio_sent_bytes_total", polling)] == len("7:::1+0")
    assert samples[("socketio_handshakes_total", (("outcome", "unauthorized"),))] == 1
    assert samples[("socketio_handshakes_total", (("outcome", "accepted"),))] == 1
    assert samples[("socketio_http_errors_total", (("status", "403"),))] == 1


def _answer(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_socketio_port_never_serves_metrics(metered: Callable[..., MeteredServer]) -> None:
    server = metered()
    unknown = _answer(server.url + "/no-such-page")
    assert unknown[0] == 404
    for path in ("/metrics", "/socket.io/metrics", "/metrics?x=1"):
        status, body = _answer(server.url + path)
        assert status in (400, 404), (path, status)
        assert b"socketio_" not in body
    # the listener answers only GET /metrics
    base = f"http://127.0.0.1:{server.metrics_port}"
    for path, method in (("/", "GET"), ("/metrics/x", "GET"), ("/favicon.ico", "GET")):
        status, body = _answer(base + path, method)
        assert (status, b"socketio_" in body) == (404, False), path
    assert _answer(base + "/metrics", "POST")[0] == 404
    assert _answer(base + "/metrics")[0] == 200


def test_off_by_default(make_server: Callable[..., LiveServer]) -> None:
    server = make_server()
    for path in ("/metrics", "/socket.io/metrics"):
        status, body = _answer(server.url + path)
        assert status in (400, 404), (path, status)
        assert b"socketio_" not in body
    assert "serving metrics" not in server.log()


def test_listener_binds_where_told(metered: Callable[..., MeteredServer]) -> None:
    server = metered()
    assert f"serving metrics on http://127.0.0.1:{server.metrics_port}/metrics" in server.log()
    # Linux answers all of 127/8: a listener bound to 127.0.0.1 alone refuses
    # 127.0.0.2, as it would the host's other addresses.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", server.metrics_port), timeout=1)


def _recv_event(client: WebSocketClient, name: str, *args: Any) -> None:
    while True:
        fields = parse(client.recv())
        if fields["type"] == 5 and fields["data"] == {"name": name, "args": list(args)}:
            return


def test_redis_bus_and_publish_latency(metered: Callable[..., MeteredServer]) -> None:
    redis_server = RedisServer().start()
    try:
        server = metered(manager=redis_server.url)
        server.wait_value("socketio_redis_bus_up", 1)
        client = WebSocketClient(server.url)
        assert client.connect("/chat") == "1::/chat"
        _recv_event(client, "welcome", "/chat")
        for n in range(3):
            client.emit("/chat", "broadcast", f"news {n}")
            _recv_event(client, "broadcast", f"news {n}")
        server.wait_value("socketio_redis_published_total", 3)
        samples = server.scrape()
        assert samples[("socketio_redis_publishing", ())] == 1
        assert samples[("socketio_redis_pending", ())] == 0
        assert samples[("socketio_redis_dropped_total", ())] == 0
        count = samples[("socketio_redis_publish_seconds_count", ())]
        assert 1 <= count <= 3  # (a round trip per batch)
        assert samples[("socketio_redis_publish_seconds_bucket", (("le", "+Inf"),))] == count
        assert 0 < samples[("socketio_redis_publish_seconds_sum", ())] < 5
        redis_server.kill()
        server.wait_value("socketio_redis_bus_up", 0)
        client.emit("/chat", "broadcast", "lost")  # (its local members still get it)
        _recv_event(client, "broadcast", "lost")
        server.wait_value("socketio_redis_dropped_total", 1)
        assert server.value("socketio_redis_published_total") == 3
        client.close()
    finally:
        redis_server.stop()


def test_timeouts_and_unconnected_sessions(metered: Callable[..., MeteredServer]) -> None:
    server = metered(close_timeout=1)
    handshake_only = requests.get(server.url + "/socket.io/1/", timeout=5)
    assert handshake_only.status_code == 200
    client = PollingClient(server.url)  # one GET, then silence
    server.wait_value("socketio_disconnects_total", 1, reason="unconnected")
    server.wait_value("socketio_disconnects_total", 1, reason="timeout")
    client.http.close()
    assert server.value("socketio_disconnects_total", reason="client") == 0
    assert server.value("socketio_sessions", transport="xhr-polling") == 0


def test_a_client_cannot_grow_the_series(metered: Callable[..., MeteredServer]) -> None:
    server = metered()
    client = WebSocketClient(server.url)
    for n in range(20):
        client.send(f"1::/nope{n}")
        client.send(f'5:::/nope{n}:{{"name":"x","args":[]}}')
    assert client.call("", "echo", "still here") == ["still here"]
    for name in ("websocket-x", "xhr-polling2", "../metrics"):
        requests.get(f"{server.url}/socket.io/1/{name}/{client.sid}", timeout=5)
    samples = server.scrape()
    namespaces = {dict(labels).get("namespace") for name, labels in samples if "namespace" in name}
    assert namespaces == {""}
    transports = {dict(labels).get("transport") for _, labels in samples} - {None}
    assert transports == {"websocket"}
    statuses = {
        dict(labels)["status"] for name, labels in samples if name.startswith("socketio_http")
    }
    assert statuses <= {"400", "404"}
    client.close()


def test_live_data_example_serves_its_metrics(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # (this socketio/, not an installed one)
    example = ExampleServer(
        "live_data", "live.py", "--port", "{port}", "--metrics-port", "{port2}", log_dir=tmp_path
    )
    try:
        client = WebSocketClient(example.url)
        assert client.connect("/feed") == "1::/feed"
        for _ in range(3):
            assert parse(client.recv())["data"]["name"] == "point"
        text = requests.get(f"http://127.0.0.1:{example.ports[1]}/metrics", timeout=5).text
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        assert samples[("socketio_namespace_sessions", (("namespace", "/feed"),))] == 1
        assert samples[("socketio_packets_sent_total", (("transport", "websocket"),))] >= 4
        client.close()
    finally:
        example.stop()
