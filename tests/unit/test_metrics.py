"""The metrics' counters, snapshot and Prometheus collector, without a network."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from socketio.config import Config
from socketio.exceptions import ConfigError
from socketio.manager import MemoryManager
from socketio.metrics import (
    LATENCY_BUCKETS,
    Latency,
    Metrics,
    Traffic,
    end_reason,
    session_gauges,
    snapshot,
    utf8_size,
)
from socketio.metrics_prometheus import SocketIOCollector, make_registry
from socketio.pubsub import PubSubManager
from socketio.server_metrics import bus_gauges
from socketio.sessions import Sessions
from tests.unit.fake_server import FakeServer, make_socket


def test_traffic_counts_packets_bytes_and_error_packets() -> None:
    traffic = Traffic()
    traffic.received(3, 120)
    traffic.sent(["1::", "7:::1+0", "5:::{}", "7::/x:2"], 40)
    traffic.sent([], 3)  # a noop answer: bytes, no packet
    assert traffic.as_dict() == {
        "bytes_in": 120,
        "bytes_out": 43,
        "error_packets_out": 2,
        "packets_in": 3,
        "packets_out": 4,
    }


def test_utf8_size_counts_bytes_not_characters() -> None:
    assert utf8_size("abc") == 3
    assert utf8_size("é") == 2
    assert utf8_size("😀") == 4
    assert utf8_size("\ud800") == 3  # a lone surrogate (a JSON client may send one) does not raise


def test_latency_buckets_are_cumulative_with_a_sum() -> None:
    latency = Latency()
    for seconds in (0.0001, 0.0005, 0.003, 0.003, 10.0):
        latency.observe(seconds)
    cumulative = dict(latency.cumulative())
    assert cumulative[0.0005] == 2  # (a bound is inclusive, as Prometheus's "le")
    assert cumulative[0.001] == 2
    assert cumulative[0.005] == 4
    assert cumulative[LATENCY_BUCKETS[-1]] == 4
    assert cumulative[float("inf")] == 5
    assert latency.count == 5
    assert latency.as_dict()["sum"] == pytest.approx(10.0066)


def test_counters_are_copies() -> None:
    metrics = Metrics()
    metrics.handshake("accepted")
    metrics.handshake("accepted")
    metrics.handshake("unauthorized")
    metrics.connected("websocket")
    metrics.disconnected("client")
    metrics.http_error(404)
    metrics.traffic_for("websocket").received(1, 10)
    assert metrics.traffic_for("websocket") is metrics.traffic["websocket"]
    counters = metrics.counters()
    metrics.handshake("accepted")
    assert counters["handshakes"] == {"accepted": 2, "unauthorized": 1}
    assert counters["connects"] == {"websocket": 1}
    assert counters["disconnects"] == {"client": 1}
    assert counters["http_errors"] == {404: 1}
    assert counters["traffic"]["websocket"]["packets_in"] == 1
    assert counters["publish_latency"]["count"] == 0


def _ended(**state: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "connection_established": True,
        "_kill_pending": False,
        "_expired": False,
        "transport_name": "websocket",
        "config": Config(heartbeat_timeout=60, close_timeout=30),
        "_last_activity": 1000.0,
    }
    fields.update(state)
    return SimpleNamespace(**fields)


@pytest.mark.parametrize(
    ("state", "stopping", "now", "reason"),
    [
        ({"connection_established": False}, False, 1001.0, "unconnected"),
        ({}, True, 1001.0, "server_stop"),
        ({"_kill_pending": True}, False, 1001.0, "slow_consumer"),
        ({"_expired": True}, False, 1060.0, "timeout"),  # websocket: heartbeat_timeout
        ({"_expired": True}, False, 1059.0, "client"),
        ({"_expired": True, "transport_name": "xhr-polling"}, False, 1030.0, "timeout"),
        ({}, False, 1001.0, "closed"),
    ],
)
def test_end_reason(state: dict[str, Any], stopping: bool, now: float, reason: str) -> None:
    assert end_reason(_ended(**state), stopping, now) == reason


def test_session_gauges_read_the_live_sessions() -> None:
    server = FakeServer()
    ws = make_socket(server=server)
    ws.connection_established = True
    ws.transport_name = "websocket"
    ws.active_ns = {"": object(), "/chat": object()}
    ws.ack_callbacks = {1: print, 2: print}
    polling = make_socket(server=server)
    polling.connection_established = True
    polling.transport_name = "xhr-polling"
    polling.active_ns = {"/chat": object()}
    make_socket(server=server, connected=False)  # handshaken only
    gone = make_socket(server=server)
    gone.connection_established = True
    gone.transport_name = "websocket"
    gone.kill()  # ended, still in sockets until its client comes back
    gauges = session_gauges(server.sockets.values())
    assert gauges == {
        "sessions": {"websocket": 1, "xhr-polling": 1, "handshaken": 1},
        "namespaces": {"": 1, "/chat": 2},
        "acks_pending": 2,
    }


def test_bus_gauges() -> None:
    assert bus_gauges(MemoryManager()) is None
    bus = PubSubManager()
    bus.published, bus.dropped = 7, 2
    assert bus_gauges(bus) == {
        "up": 1,
        "publishing": 1,
        "published": 7,
        "dropped": 2,
        "pending": 0,
    }
    bus._outage = True
    bus.bus_up = False
    gauges = bus_gauges(bus)
    assert gauges is not None
    assert (gauges["up"], gauges["publishing"]) == (0, 0)


def test_snapshot_without_metrics_has_the_gauges_only() -> None:
    snap = snapshot(None, {}, None)
    assert snap == {
        "enabled": False,
        "sessions": {},
        "namespaces": {},
        "acks_pending": 0,
        "bus": None,
        "volatile_dropped": 0,
        "forwarding": None,
    }
    with_counters = snapshot(Metrics(), {}, None)
    assert with_counters["enabled"] is True
    assert with_counters["handshakes"] == {}


def test_sessions_tell_who_left() -> None:
    left: list[str] = []
    gone: list[Any] = []
    sessions = Sessions(left.append, gone.append)
    a, b, c, d = object(), object(), object(), object()
    sessions.update({"a": a, "b": b, "c": c})
    del sessions["a"]
    assert sessions.pop("b") is b
    sessions["c"] = d  # replaced: c left
    sessions.clear()
    assert left == ["a", "b", "c", "c"]
    assert gone == [a, b, c, d]
    with pytest.raises(KeyError):
        del sessions["nobody"]


def test_config_fields() -> None:
    config = Config()
    assert (config.metrics, config.metrics_listener) == (False, None)
    config = Config(metrics="yes", metrics_listener=["127.0.0.1", "9102"])
    assert (config.metrics, config.metrics_listener) == (True, ("127.0.0.1", 9102))
    for bad in ("127.0.0.1:9102", ("127.0.0.1", 70000), (1, 2), ("h", "p")):
        with pytest.raises(ConfigError, match="metrics_listener"):
            Config(metrics_listener=bad)


class _Source:
    def __init__(self, snap: dict[str, Any]) -> None:
        self.snap = snap

    def metrics_snapshot(self) -> dict[str, Any]:
        return self.snap


def _scrape(source: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(make_registry(source)).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_collector_exposes_the_snapshot() -> None:
    metrics = Metrics()
    metrics.handshake("accepted")
    metrics.connected("websocket")
    metrics.disconnected("timeout")
    metrics.http_error(403)
    metrics.traffic_for("websocket").sent(["7:::1+0"], 11)
    metrics.publish_latency.observe(0.002)
    bus = PubSubManager()
    bus.published = 3
    sessions = {"s": make_socket()}
    sessions["s"].connection_established = True
    sessions["s"].transport_name = "websocket"
    samples = _scrape(_Source(snapshot(metrics, sessions, bus_gauges(bus))))
    assert samples[("socketio_sessions", (("transport", "websocket"),))] == 1
    assert samples[("socketio_acks_pending", ())] == 0
    assert samples[("socketio_handshakes_total", (("outcome", "accepted"),))] == 1
    assert samples[("socketio_connects_total", (("transport", "websocket"),))] == 1
    assert samples[("socketio_disconnects_total", (("reason", "timeout"),))] == 1
    assert samples[("socketio_http_errors_total", (("status", "403"),))] == 1
    assert samples[("socketio_error_packets_sent_total", (("transport", "websocket"),))] == 1
    assert samples[("socketio_sent_bytes_total", (("transport", "websocket"),))] == 11
    assert samples[("socketio_redis_bus_up", ())] == 1
    assert samples[("socketio_redis_published_total", ())] == 3
    assert samples[("socketio_redis_publish_seconds_count", ())] == 1
    assert samples[("socketio_redis_publish_seconds_bucket", (("le", "0.0025"),))] == 1
    assert samples[("socketio_redis_publish_seconds_bucket", (("le", "0.001"),))] == 0


def test_collector_without_counters_or_bus() -> None:
    samples = _scrape(_Source(snapshot(None, {}, None)))
    assert set(samples) == {("socketio_acks_pending", ()), ("socketio_volatile_dropped_total", ())}


def test_volatile_drops_always_and_rate_limited_packets_with_metrics_on() -> None:
    # rate_limited: the ended sessions' (kept as they leave) plus the live ones'
    metrics = Metrics()
    metrics.session_ended(SimpleNamespace(rate_limited=5), "closed")
    live = make_socket(config={"rate_limit": 1, "rate_limit_burst": 1})
    assert live._bucket is not None
    live._bucket.denied = 2
    snap = snapshot(metrics, {"s": live}, None, volatile_dropped=7)
    assert (snap["volatile_dropped"], snap["rate_limited"]) == (7, 7)
    assert snap["disconnects"] == {"closed": 1}
    samples = _scrape(_Source(snap))
    assert samples[("socketio_volatile_dropped_total", ())] == 7
    assert samples[("socketio_rate_limited_total", ())] == 7
    off = snapshot(None, {"s": live}, None, volatile_dropped=7)
    assert off["volatile_dropped"] == 7
    assert "rate_limited" not in off


def test_registries_are_per_server_never_the_global_one() -> None:
    first, second = _Source(snapshot(Metrics(), {}, None)), _Source(snapshot(None, {}, None))
    one, two = make_registry(first), make_registry(second)
    assert one is not two
    assert one.get_sample_value("socketio_acks_pending") == 0
    assert REGISTRY.get_sample_value("socketio_acks_pending") is None
    assert isinstance(next(iter(one._collector_to_names)), SocketIOCollector)


def test_two_servers_count_apart() -> None:
    from socketio.server import SocketIOServer

    def app(environ: Any, start_response: Any) -> list[bytes]:
        return []

    on = SocketIOServer(("127.0.0.1", 0), app, policy_server=False, metrics=True)
    other = SocketIOServer(("127.0.0.1", 0), app, policy_server=False, metrics=True)
    off = SocketIOServer(("127.0.0.1", 0), app, policy_server=False)
    assert on.metrics is not None
    assert other.metrics is not None
    assert on.metrics is not other.metrics
    assert off.metrics is None
    for server in (on, other, off):
        session = server.get_socket()
        assert session is not None
        session.kill(detach=True)
    assert on.metrics.disconnects == {"unconnected": 1}
    assert other.metrics.disconnects == {"unconnected": 1}
    assert off.metrics_snapshot()["enabled"] is False
    assert on.metrics_snapshot()["disconnects"] == {"unconnected": 1}


def _get(port: int, path: str) -> bytes:
    """A GET answered by a server of this process (gevent's socket: the hub serves it)."""
    import gevent.socket

    conn = gevent.socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        conn.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        conn.close()


def test_listeners_per_server_and_a_taken_port(caplog: pytest.LogCaptureFixture) -> None:
    from socketio.server import SocketIOServer

    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("404 Not Found", [])
        return []

    one = SocketIOServer(
        ("127.0.0.1", 0), app, policy_server=False, log=None, metrics_listener=("127.0.0.1", 0)
    )
    one.start()
    try:
        assert one._metrics_listener is not None
        port = one._metrics_listener.address[1]
        taken = SocketIOServer(
            ("127.0.0.1", 0),
            app,
            policy_server=False,
            log=None,
            metrics_listener=("127.0.0.1", port),
        )
        taken.start()  # serves Socket.IO all the same
        try:
            assert taken._metrics_listener is None
            assert "could not start the metrics listener" in caplog.text
            assert b"200 OK" in _get(taken.server_port, "/socket.io/1/")
            assert taken.metrics is not None
            assert taken.metrics.handshakes == {"accepted": 1}
            assert one.metrics is not None
            assert one.metrics.handshakes == {}
            answer = _get(port, "/metrics")
            assert b"socketio_handshakes_total{" not in answer  # (one has counted nothing yet)
            assert b"socketio_acks_pending 0.0" in answer
            assert b"404" in _get(port, "/")
        finally:
            taken.stop()
    finally:
        one.stop()
    assert one._metrics_listener is None
