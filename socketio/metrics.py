"""A server's metrics in plain numbers: its counters, and a snapshot of its state.

Pure (no gevent, no ``prometheus_client``): :class:`Metrics` holds what can
only be counted as it happens (handshakes, connects, disconnects by reason,
packets and bytes by transport, HTTP error answers, the Redis publish
latency); :func:`snapshot` adds what is read from the server's sessions and
manager when asked (sessions by transport and namespace, acks pending, the
bus state), costing nothing until then. :mod:`socketio.metrics_prometheus`
exports the same numbers to Prometheus.

A server counts only with ``metrics`` (or ``metrics_listener``) set in its
:class:`~socketio.config.Config`; otherwise ``server.metrics`` is ``None``
and every hook is one test of that.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from .config import HEARTBEAT_TRANSPORTS
from .state import LIVE

__all__ = [
    "LATENCY_BUCKETS",
    "Latency",
    "Metrics",
    "Traffic",
    "end_reason",
    "session_gauges",
    "snapshot",
    "utf8_size",
]

#: upper bounds (seconds) of the publish latency histogram's buckets
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


def utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (without encoding it when it is ASCII)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class Traffic:
    """What crossed one transport, counted where it is read and written.

    Bytes are those of websocket frames (header included) and of polling
    and streaming bodies, not of HTTP heads. A websocket message is one
    packet; a polling body carries as many as its payload frames.
    """

    __slots__ = ("bytes_in", "bytes_out", "error_packets_out", "packets_in", "packets_out")

    def __init__(self) -> None:
        self.packets_in = 0
        self.packets_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        #: packets of type 7 (error) sent to clients
        self.error_packets_out = 0

    def received(self, packets: int, size: int) -> None:
        """Count ``packets`` packets in ``size`` bytes read from clients."""
        self.packets_in += packets
        self.bytes_in += size

    def sent(self, packets: Iterable[str], size: int) -> None:
        """Count ``packets`` (encoded) written to clients in ``size`` bytes."""
        count = errors = 0
        for pkt in packets:
            count += 1
            if pkt[:1] == "7":
                errors += 1
        self.packets_out += count
        self.error_packets_out += errors
        self.bytes_out += size

    def as_dict(self) -> dict[str, int]:
        """The counts by name."""
        return {name: getattr(self, name) for name in sorted(self.__slots__)}


class Latency:
    """A histogram of durations: counts per bucket of :data:`LATENCY_BUCKETS`, their sum."""

    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        #: observations per bucket (not cumulative); the last one is ``+Inf``
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.count = 0
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        """Count one duration."""
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.count += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations at most that long)`` per bucket, ``+Inf`` last."""
        out = []
        running = 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), self.counts):
            running += count
            out.append((bound, running))
        return out

    def as_dict(self) -> dict[str, Any]:
        """``count``, ``sum`` and the cumulative ``buckets`` (bound → count)."""
        return {"count": self.count, "sum": self.total, "buckets": dict(self.cumulative())}


class Metrics:
    """The counters of one server (one per server: two servers in a process never share)."""

    __slots__ = (
        "connects",
        "disconnects",
        "handshakes",
        "http_errors",
        "publish_latency",
        "rate_limited",
        "traffic",
    )

    def __init__(self) -> None:
        #: handshakes by outcome: ``accepted``, ``unauthorized``, ``failed``
        self.handshakes: dict[str, int] = {}
        #: sessions connected (their first transport request) by transport
        self.connects: dict[str, int] = {}
        #: sessions ended by reason (see :func:`end_reason`)
        self.disconnects: dict[str, int] = {}
        #: HTTP answers of status 400 or more, by status
        self.http_errors: dict[int, int] = {}
        #: transport name → its :class:`Traffic`
        self.traffic: dict[str, Traffic] = {}
        #: how long the Redis manager's publishes took (a round trip per batch)
        self.publish_latency = Latency()
        #: packets dropped by rate limits (``Config.rate_limit``) in the
        #: sessions that have ended; the live ones' are added at snapshot time
        self.rate_limited = 0

    def traffic_for(self, transport: str) -> Traffic:
        """The :class:`Traffic` of ``transport`` (made on first use)."""
        traffic = self.traffic.get(transport)
        if traffic is None:
            traffic = self.traffic[transport] = Traffic()
        return traffic

    def handshake(self, outcome: str) -> None:
        """Count a handshake request answered with ``outcome``."""
        self.handshakes[outcome] = self.handshakes.get(outcome, 0) + 1

    def connected(self, transport: str) -> None:
        """Count a session's first transport request, over ``transport``."""
        self.connects[transport] = self.connects.get(transport, 0) + 1

    def disconnected(self, reason: str) -> None:
        """Count a session that ended for ``reason``."""
        self.disconnects[reason] = self.disconnects.get(reason, 0) + 1

    def session_ended(self, session: Any, reason: str) -> None:
        """Count ``session``, which ended for ``reason``, and keep its own counts."""
        self.disconnected(reason)
        self.rate_limited += session.rate_limited

    def http_error(self, status: int) -> None:
        """Count an HTTP answer of status ``status`` (400 or more)."""
        self.http_errors[status] = self.http_errors.get(status, 0) + 1

    def counters(self) -> dict[str, Any]:
        """Every counter, as plain numbers (copies: they do not change afterwards)."""
        return {
            "handshakes": dict(self.handshakes),
            "connects": dict(self.connects),
            "disconnects": dict(self.disconnects),
            "http_errors": dict(self.http_errors),
            "traffic": {name: t.as_dict() for name, t in sorted(self.traffic.items())},
            "publish_latency": self.publish_latency.as_dict(),
        }


def end_reason(session: Any, stopping: bool, now: float) -> str:
    """Why ``session`` (a :class:`~socketio.virtsocket.Socket` leaving the server) ended.

    Read from the session's state when it leaves ``server.sockets``:

    * ``unconnected``: handshaken, never reached by a transport request
      (expired, or dropped past ``max_pending_sessions``);
    * ``server_stop``: the server stopped;
    * ``slow_consumer``: disconnected for what piled up for it;
    * ``timeout``: nothing from the client within its time limit;
    * ``client``: the client left (``0::``, the forced-disconnect URL);
    * ``closed``: anything else: the websocket or stream closed, or the
      application ended the session.

    Args:
        session: the session.
        stopping: whether the server is stopping.
        now: ``time.monotonic()``.
    """
    if not session.connection_established:
        return "unconnected"
    if stopping:
        return "server_stop"
    if session._kill_pending:
        return "slow_consumer"
    if session._expired:
        config = session.config
        limit = (
            config.heartbeat_timeout
            if session.transport_name in HEARTBEAT_TRANSPORTS
            else config.close_timeout
        )
        return "timeout" if now - session._last_activity >= limit else "client"
    return "closed"


def session_gauges(sessions: Iterable[Any]) -> dict[str, Any]:
    """What the live sessions hold now: by transport, by namespace, their pending acks.

    Returns:
        ``sessions`` (transport → count, ``handshaken`` for those no
        transport request has reached), ``namespaces`` (endpoint → sessions
        in it; ``''`` is the global namespace) and ``acks_pending``.
    """
    by_transport: dict[str, int] = {}
    by_namespace: dict[str, int] = {}
    acks = 0
    for session in sessions:
        if session.state not in LIVE:
            continue
        transport = session.transport_name if session.connection_established else "handshaken"
        by_transport[transport] = by_transport.get(transport, 0) + 1
        for endpoint in session.active_ns:
            by_namespace[endpoint] = by_namespace.get(endpoint, 0) + 1
        acks += len(session.ack_callbacks)
    return {
        "sessions": by_transport,
        "namespaces": by_namespace,
        "acks_pending": acks,
    }


def snapshot(
    metrics: Optional[Metrics],
    sessions: Mapping[str, Any],
    bus: Optional[dict[str, int]],
    volatile_dropped: int = 0,
    forwarding: Optional[dict[str, int]] = None,
) -> dict[str, Any]:
    """Every number at once, as a dict of plain values (see :meth:`~socketio.server_metrics.ServerMetrics.metrics_snapshot`).

    Args:
        metrics: the server's counters, or ``None`` when it does not count.
        sessions: ``server.sockets``.
        bus: the pub/sub bus's gauges (see
            :func:`~socketio.server_metrics.bus_gauges`), ``None`` without one.
        volatile_dropped: the server's count of volatile packets dropped
            (``server.volatile_dropped``, kept with metrics on or off).
        forwarding: requests for sibling processes' sessions, by outcome
            (``relayed``, ``owner_gone``, ``owner_timeout``, ``owner_busy``; see
            :mod:`socketio.forwarding`), ``None`` without a forward listener.

    Returns:
        With metrics on, besides the gauges and :meth:`Metrics.counters`,
        ``rate_limited``: packets dropped by rate limits, in every session
        since the start (ended and live).
    """
    live = list(sessions.values())
    out: dict[str, Any] = {"enabled": metrics is not None}
    out.update(session_gauges(live))
    out["bus"] = bus
    out["volatile_dropped"] = volatile_dropped
    out["forwarding"] = forwarding
    if metrics is not None:
        out.update(metrics.counters())
        out["rate_limited"] = metrics.rate_limited + sum(s.rate_limited for s in live)
    return out
