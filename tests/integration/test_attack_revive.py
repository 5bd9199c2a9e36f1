"""A flood of polling GETs probing session ids, against ``revive_socket`` (issue 20 debt).

A server whose application leaves websockets unserved keeps each such id
for the client's next transport (``keep_ungreeted``, at most
``max_pending_sessions`` of them, for ``close_timeout`` seconds), and serves
a polling GET with a kept id as a new session, once (``revive_socket``).
An attacker probing ids with GETs, or handshaking and opening unserved
websockets by the hundred before GETting them all, gets no more than that:
probes create nothing, the kept ids and so the revived sessions are capped,
the revived sessions end as any idle session does, and another client's
round trip holds.
"""

from __future__ import annotations

import json
import secrets
import statistics
import threading
import time

import pytest
import requests

from tests.client09.framing import event
from tests.client09.handshake import handshake, transport_url
from tests.client09.polling import PollingClient
from tests.client09.waiting import wait_for
from tests.client09.websocket import open_websocket, read_to_close

from .conftest import LiveServer
from .observe import errors_in_log, kept_mib, rss_mib

CAP = 40


class UnservedServer(LiveServer):
    """tests/integration/unserved_app.py: websockets left unserved, polling served."""

    module = "tests.integration.unserved_app"


@pytest.fixture(scope="module")
def server():
    server = UnservedServer(
        polling_duration=0.5,
        # (the ids are kept this long: long enough for 160 handshakes and
        # websockets on a cold JIT on a busy machine)
        close_timeout=6,
        config=json.dumps({"max_pending_sessions": CAP}),
    ).start()
    yield server
    server.stop()


class RoundTrips:
    """A good polling client next to the attack: an echo with ack, again and again."""

    def __init__(self, url: str) -> None:
        self.client = PollingClient(url)
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            started = time.monotonic()
            self.client.send(event("", "echo", n, msgid=n))
            self.client.wait_for(lambda raw, n=n: raw.startswith(f"6:::{n}+"))
            self.times.append(time.monotonic() - started)

    def measure(self, count: int) -> float:
        """The median round trip (ms) of the next ``count`` round trips."""
        first = len(self.times)
        if not self._thread.is_alive():
            self._thread.start()
        wait_for(lambda: len(self.times) >= first + count, 30, f"{count} round trips")
        return statistics.median(self.times[first : first + count]) * 1000

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.client.close()


def test_probing_ids_creates_nothing(server):
    before = set(server.sockets())
    http = requests.Session()
    for _ in range(1000):
        url = transport_url(server.url, "xhr-polling", secrets.token_hex(16))
        assert http.get(url, timeout=5).text == "7:::1+0"
    assert set(server.sockets()) == before
    assert errors_in_log(server) == []


def test_unserved_websockets_then_gets_revive_at_most_the_cap(server):
    good = RoundTrips(server.url)
    try:
        alone = good.measure(20)
        rss_before = rss_mib(server)
        kept_before = kept_mib(server)
        mark = len(good.times)
        ids = []
        for _ in range(4 * CAP):
            sid = handshake(server.url).sid
            assert read_to_close(open_websocket(server.url, sid)) == ([], 1000)
            ids.append(sid)
        baseline = set(server.sockets())
        http = requests.Session()
        answers = [
            http.get(transport_url(server.url, "xhr-polling", sid), timeout=5).text for sid in ids
        ]
        revived = [sid for sid, text in zip(ids, answers, strict=True) if text == "1::"]
        # the newest CAP ids were kept (the oldest pushed out), each served once
        assert revived == ids[-CAP:]
        assert all(text == "7:::1+0" for text in answers[:-CAP])
        assert set(server.sockets()) - baseline == set(revived)
        flood = good.times[mark:]  # (the round trips made while the flood went on)
        during = statistics.median(flood) * 1000 if flood else good.measure(20)
        # the revived sessions are idle clients: gone after close_timeout, like any
        wait_for(lambda: not set(server.sockets()) & set(revived), 15, "the revived sessions gone")
        print(f"round trip alone {alone:.1f} ms, during {during:.1f} ms ({len(flood)},"
              f" max {max(flood, default=0) * 1000:.1f} ms); rss {rss_mib(server) - rss_before:+.1f} MiB")  # fmt: skip
        assert during < max(10 * alone, 50)
        assert kept_mib(server) - kept_before < 20
        assert errors_in_log(server) == []
    finally:
        good.stop()
