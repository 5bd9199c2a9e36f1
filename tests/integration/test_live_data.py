"""The live-data example (examples/live_data) with the real 0.9.16 client in node.

Its points are volatile emits: each client gets them in order, possibly with
gaps (points it could not take when they were pushed), and ``/stats`` gives
the server's count of those skipped.
"""

from __future__ import annotations

import pytest
import requests

from tests.client09.waiting import wait_for

from .examples import start_example
from .node_client import NodeClient

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = start_example("live_data", tmp_path_factory.mktemp("live_data"))
    yield server
    server.stop()


@pytest.mark.parametrize("transport", ["websocket", "xhr-polling"])
def test_points_arrive_in_order_and_stats_count_the_skipped(live, transport):
    client = NodeClient(live.url)
    try:
        client.connect("f", "/feed", transport)
        assert client.emit("f", "rate", 50, ack=True) == [50]

        def points() -> list[int]:
            return [args[0] for _label, event, args in client.events("f") if event == "point"]

        got = wait_for(lambda: len(p := points()) >= 20 and p, timeout=10, what="20 points")
        assert got == sorted(set(got))
        stats = requests.get(live.url + "/stats", timeout=5).json()
        assert stats["sessions"] >= 1
        assert stats["by_transport"].get(transport, 0) >= 1
        assert isinstance(stats["volatile_dropped"], int)
        # (the metrics count what went out: at least the 20 points seen)
        assert stats["packets_sent"] >= 20
        assert stats["bytes_sent"] > stats["packets_sent"]
    finally:
        client.close()
