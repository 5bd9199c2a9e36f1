"""The Prometheus exporter of a server's metrics (needs ``prometheus_client``).

Install the extra (``pip install gevent-socketio[metrics]``). Two ways to
expose the numbers of :meth:`SocketIOServer.metrics_snapshot
<socketio.server_metrics.ServerMetrics.metrics_snapshot>`:

* ``SocketIOServer(..., metrics_listener=("127.0.0.1", 9102))``: a separate
  HTTP listener (a :class:`MetricsListener`) answers ``GET /metrics``, and
  404 to anything else. Nothing is added to the Socket.IO port.
* :func:`make_registry` for an application that serves the exposition
  itself, behind its own authentication:
  ``prometheus_client.make_wsgi_app(make_registry(server))``.

Each server has a registry of its own (never prometheus_client's global
``REGISTRY``): two servers in one process do not share or clash. Every
value is read when scraped (:class:`SocketIOCollector`).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Optional, Protocol

from gevent.pywsgi import WSGIServer
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

__all__ = ["PATH", "MetricsListener", "MetricsSource", "SocketIOCollector", "make_registry"]

log = logging.getLogger(__name__)

#: the one path a :class:`MetricsListener` answers
PATH = "/metrics"

#: (snapshot key, metric name, help, label) of the counters kept by label
_LABELLED_COUNTERS = (
    ("handshakes", "socketio_handshakes", "Handshake requests, by outcome.", "outcome"),
    ("connects", "socketio_connects", "Sessions connected, by transport.", "transport"),
    ("disconnects", "socketio_disconnects", "Sessions ended, by reason.", "reason"),
    ("http_errors", "socketio_http_errors", "HTTP answers of status 400 or more.", "status"),
)
#: (Traffic field, metric name, help) of the counters by transport
_TRAFFIC_COUNTERS = (
    ("packets_in", "socketio_packets_received", "Packets received from clients."),
    ("packets_out", "socketio_packets_sent", "Packets sent to clients."),
    ("bytes_in", "socketio_received_bytes", "Bytes of frames and bodies received."),
    ("bytes_out", "socketio_sent_bytes", "Bytes of frames and bodies sent."),
    ("error_packets_out", "socketio_error_packets_sent", "Error packets (7) sent to clients."),
)


class MetricsSource(Protocol):
    """What the collector reads: a :class:`~socketio.server.SocketIOServer` provides it."""

    def metrics_snapshot(self) -> dict[str, Any]:
        """Every metric now, in plain numbers."""


def _gauge(name: str, doc: str, label: str, values: dict[Any, Any]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([str(key)], value)
    return family


def _counter(name: str, doc: str, label: str, values: dict[Any, Any]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([str(key)], value)
    return family


class SocketIOCollector(Collector):
    """A ``prometheus_client`` collector of one server's metrics, read at each scrape.

    Args:
        server: the server (its :meth:`metrics_snapshot`).
    """

    def __init__(self, server: MetricsSource) -> None:
        self.server = server

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the families are known at collect time only."""
        return ()

    def collect(self) -> Iterator[Metric]:
        """The metric families of the server's :meth:`metrics_snapshot` now."""
        snap = self.server.metrics_snapshot()
        yield _gauge(
            "socketio_sessions",
            "Live sessions, by transport (handshaken: no transport request yet).",
            "transport",
            snap["sessions"],
        )
        yield _gauge(
            "socketio_namespace_sessions",
            "Live sessions in each namespace ('' is the global one).",
            "namespace",
            snap["namespaces"],
        )
        yield GaugeMetricFamily(
            "socketio_acks_pending",
            "Server emits waiting for the client's ack.",
            value=snap["acks_pending"],
        )
        yield CounterMetricFamily(
            "socketio_volatile_dropped",
            "Volatile packets dropped: their client could not take them when sent.",
            value=snap["volatile_dropped"],
        )
        if snap["forwarding"] is not None:
            yield _counter(
                "socketio_forwarded_requests",
                "Requests for sibling processes' sessions, by outcome.",
                "outcome",
                snap["forwarding"],
            )
        bus = snap["bus"]
        if bus is not None:
            yield from _bus_families(bus, snap.get("publish_latency"))
        if not snap["enabled"]:
            return
        for key, name, doc, label in _LABELLED_COUNTERS:
            yield _counter(name, doc, label, snap[key])
        yield CounterMetricFamily(
            "socketio_rate_limited",
            "Packets dropped by the per-session rate limit.",
            value=snap["rate_limited"],
        )
        traffic = snap["traffic"]
        for field, name, doc in _TRAFFIC_COUNTERS:
            values = {transport: counts[field] for transport, counts in traffic.items()}
            yield _counter(name, doc, "transport", values)


def _bus_families(bus: dict[str, int], latency: Optional[dict[str, Any]]) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "socketio_redis_bus_up", "1 while subscribed to the Redis bus.", value=bus["up"]
    )
    yield GaugeMetricFamily(
        "socketio_redis_publishing",
        "0 during a publishing outage (emits reach local clients only).",
        value=bus["publishing"],
    )
    yield GaugeMetricFamily(
        "socketio_redis_pending", "Emits waiting to be published.", value=bus["pending"]
    )
    yield CounterMetricFamily(
        "socketio_redis_published", "Emits handed to the bus.", value=bus["published"]
    )
    yield CounterMetricFamily(
        "socketio_redis_dropped",
        "Emits that reached this process's clients only.",
        value=bus["dropped"],
    )
    if latency is not None:
        buckets = [
            ("+Inf" if bound == float("inf") else repr(bound), count)
            for bound, count in latency["buckets"].items()
        ]
        yield HistogramMetricFamily(
            "socketio_redis_publish_seconds",
            "Round trips of PUBLISH (one per batch of emits).",
            buckets=buckets,
            sum_value=latency["sum"],
        )


def make_registry(server: MetricsSource) -> CollectorRegistry:
    """A new registry holding only ``server``'s collector (for ``make_wsgi_app`` and the like)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SocketIOCollector(server))
    return registry


def _only_metrics(app: Callable[..., Any]) -> Callable[..., Any]:
    """``app`` at :data:`PATH`; a plain 404 anywhere else."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
        return [b"not found"]

    return application


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class MetricsListener:
    """A separate HTTP listener serving one server's metrics at ``GET /metrics``.

    Args:
        server: the server whose metrics are served.
        listener: ``(host, port)`` to listen on (port 0: any free port, see
            :attr:`address`). Bind it to a loopback address unless the
            network in front of it keeps it private: anyone who can reach it
            reads the metrics.
    """

    def __init__(self, server: MetricsSource, listener: tuple[str, int]) -> None:
        self.registry = make_registry(server)
        app = _only_metrics(make_wsgi_app(self.registry))
        self._server = WSGIServer(listener, app, log=None)
        self._listener = listener

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` it listens on, once started."""
        host, port = self._server.address[:2]
        return (host, port)

    def start(self) -> None:
        """Start listening (in the background of the gevent hub)."""
        self._server.start()
        host = self._listener[0]
        log.info("serving metrics on http://%s:%d%s", host, self.address[1], PATH)
        if not _is_loopback(host):
            log.warning(
                "the metrics listener on %s is reachable from other hosts: "
                "keep it behind a firewall, or bind it to 127.0.0.1",
                host,
            )

    def stop(self) -> None:
        """Stop listening."""
        self._server.stop(timeout=1)
