"""The metrics part of :class:`~socketio.server.SocketIOServer`: counters, snapshot, exporter.

A base class of the server, as the session's parts are of ``Socket`` (see
:doc:`/architecture`): with ``metrics`` off (the default) ``metrics`` is
``None`` and nothing is counted, nor any listener started.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

from .config import Config
from .metrics import Metrics, end_reason, snapshot
from .pubsub import PubSubManager
from .redis_manager import RedisManager

if TYPE_CHECKING:  # pragma: no cover
    from .forwarding import Forwarder
    from .manager import BaseManager
    from .metrics_prometheus import MetricsListener

__all__ = ["ServerMetrics", "bus_gauges"]

log = logging.getLogger("socketio.server")


def bus_gauges(manager: BaseManager) -> Optional[dict[str, int]]:
    """The pub/sub bus of ``manager`` (a Redis manager), or ``None`` for a memory manager.

    Returns:
        ``up`` (1 while subscribed to the bus), ``publishing`` (0 during an
        outage of publishing: emits are dropped), ``published`` and
        ``dropped`` (emits handed to the bus, and reaching this process's
        clients only, since the start) and ``pending`` (waiting to be
        published).
    """
    if not isinstance(manager, PubSubManager):
        return None
    return {
        "up": int(manager.bus_up),
        "publishing": int(not manager._outage),
        "published": manager.published,
        "dropped": manager.dropped,
        "pending": manager.pending,
    }


class ServerMetrics:
    """What :class:`~socketio.server.SocketIOServer` does for its metrics.

    Reads the server's ``config``, ``sockets``, ``manager``, ``stopping`` and
    ``volatile_dropped``.
    """

    config: Config
    sockets: Mapping[str, Any]
    manager: BaseManager
    stopping: bool
    volatile_dropped: int
    forwarder: Optional[Forwarder]

    #: this server's counters (see :mod:`socketio.metrics`); ``None``: metrics off
    metrics: Optional[Metrics] = None
    _metrics_listener: Optional[MetricsListener] = None

    def _init_metrics(self) -> None:
        """Make the counters if the config asks for them (once the manager is set)."""
        config = self.config
        if not (config.metrics or config.metrics_listener is not None):
            return
        self.metrics = Metrics()
        if isinstance(self.manager, RedisManager):
            self.manager.publish_latency = self.metrics.publish_latency

    def _session_gone(self, session: Any) -> None:
        """Count why ``session``, which left ``sockets``, ended (metrics on)."""
        metrics = self.metrics
        if metrics is not None:
            metrics.session_ended(session, end_reason(session, self.stopping, time.monotonic()))

    def metrics_snapshot(self) -> dict[str, Any]:
        """Every metric of this server now, as a dict of plain numbers.

        Gauges (sessions by transport and namespace, acks pending, the Redis
        bus) are read from the sessions and the manager at each call, with
        metrics on or off; the counters are there only with ``metrics`` on
        (``"enabled"`` says which). See :func:`socketio.metrics.snapshot`.
        """
        forwarder = self.forwarder
        forwarding = None
        if forwarder is not None:
            forwarding = {
                "relayed": forwarder.forwarded,
                "owner_gone": forwarder.unreachable,
                "owner_timeout": forwarder.timed_out,
                "owner_busy": forwarder.busy,
            }
        return snapshot(
            self.metrics, self.sockets, bus_gauges(self.manager), self.volatile_dropped, forwarding
        )

    def start_accepting(self) -> None:
        """Start the Prometheus listener (``metrics_listener``), then accept connections."""
        listener = self.config.metrics_listener
        if listener is not None and self._metrics_listener is None:
            from .metrics_prometheus import MetricsListener  # (prometheus_client is optional)

            exporter = MetricsListener(self, listener)
            try:
                exporter.start()
            except OSError as exc:
                # (as the policy server's: a second gunicorn worker finds the
                # port taken by the first; serving Socket.IO matters more)
                log.error("could not start the metrics listener on %s: %s", listener, exc)
            else:
                self._metrics_listener = exporter
        super().start_accepting()  # type: ignore[misc]  # (WSGIServer's, next in the MRO)

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stop the server, then the Prometheus listener."""
        try:
            super().stop(timeout=timeout)  # type: ignore[misc]  # (WSGIServer's)
        finally:
            exporter, self._metrics_listener = self._metrics_listener, None
            if exporter is not None:
                exporter.stop()
