"""The timers, with short values, against a live server.

- ``heartbeat_interval``: ``2::`` at that pace on websocket and the streaming
  transports (htmlfile, xhr-multipart), never on the polling ones;
- ``heartbeat_timeout``: announced in the handshake; a websocket or stream from
  which nothing arrives for that long is closed, one that answers lives on;
- ``close_timeout``: announced in the handshake; a polling client may stay
  away that long, and is never dropped while one of its GETs is held;
- the polling duration: a held GET is answered ``8::`` after it.
"""

from __future__ import annotations

import re
import statistics
import time

import pytest
import requests

from tests.client09.handshake import handshake, transport_url
from tests.client09.http import RawStream
from tests.client09.polling import PollingClient
from tests.client09.websocket import WebSocketClient

from .conftest import LiveServer
from .node_client import NodeClient
from .observe import wait_gone

INTERVAL = 0.3
HEARTBEAT_TIMEOUT = 1.5
CLOSE_TIMEOUT = 1.0
POLLING = 0.5


@pytest.fixture(scope="module")
def timers():
    server = LiveServer(
        heartbeat_interval=INTERVAL,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        close_timeout=CLOSE_TIMEOUT,
        polling_duration=POLLING,
    ).start()
    yield server
    server.stop()


def test_handshake_announces_heartbeat_and_close_timeouts(timers):
    text = requests.get(timers.url + "/socket.io/1/", timeout=5).text
    _sid, heartbeat, close, transports = text.split(":")
    assert (heartbeat, close) == ("1.5", "1")
    assert "websocket" in transports.split(",")
    jsonp = requests.get(timers.url + "/socket.io/1/", params={"jsonp": "2"}, timeout=5).text
    assert re.fullmatch(r'io\.j\[2\]\("[0-9a-f]+:1\.5:1:[a-z,-]+"\);', jsonp), jsonp


def test_websocket_heartbeats_come_at_the_interval(timers):
    client = WebSocketClient(timers.url)
    client.ws.settimeout(2)
    beats = []
    started = time.monotonic()
    while time.monotonic() - started < 1.7:  # longer than heartbeat_timeout
        assert client.ws.recv() == "2::"
        beats.append(time.monotonic())
        client.send("2::")  # answered: the session lives on
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    assert 4 <= len(beats) <= 7, beats
    assert INTERVAL * 0.8 <= statistics.median(gaps) <= INTERVAL * 1.5, gaps
    assert client.sid in timers.sockets()
    client.close()


@pytest.mark.node
@pytest.mark.parametrize("transport", ["websocket", "xhr-polling"])
def test_idle_real_client_stays_connected_past_every_timeout(timers, transport):
    """The 0.9.16 client, doing nothing for longer than both timeouts, stays connected.

    It answers heartbeats on websocket; on xhr-polling it has no heartbeats and
    its polls (answered 8:: after the polling duration) keep both sides alive.
    """
    client = NodeClient(timers.url)
    try:
        sid = client.connect("a", "/life", transport)
        time.sleep(HEARTBEAT_TIMEOUT + 0.8)
        assert client.call("state", label="a")["connected"] is True
        assert sid in timers.sockets()
        assert "disconnect" not in [e for _, e, _ in client.events()]
        received = client.wire("in")
        if transport == "websocket":
            assert received.count("2::") >= 5
            assert client.wire("out").count("2::") >= 5  # answered
            assert "8::" not in received
        else:
            assert "2::" not in received
            assert received.count("8::") >= 3
        assert client.emit("a", "echo", "awake", ack=True) == ["awake"]
    finally:
        client.close()


@pytest.mark.parametrize("transport", ["xhr-polling", "jsonp-polling"])
def test_polling_gets_noop_after_the_polling_duration_and_no_heartbeats(timers, transport):
    session = PollingClient(timers.url, transport)
    durations = []
    for _ in range(4):  # 2 s in all: past the heartbeat interval many times over
        started = time.monotonic()
        assert session.get() == "8::"
        durations.append(time.monotonic() - started)
    assert all(POLLING - 0.05 <= d <= POLLING + 0.4 for d in durations), durations
    assert session.sid in timers.sockets()


@pytest.mark.parametrize("transport", ["htmlfile", "xhr-multipart"])
def test_stream_gets_heartbeats_and_closes_when_nothing_comes_back(timers, transport):
    """A streaming client that never POSTs (no heartbeat answers) is closed after heartbeat_timeout."""
    sid = handshake(timers.url).sid
    stream = RawStream(transport_url(timers.url, transport, sid))
    started = time.monotonic()
    text = ""
    beats = 0
    while True:
        chunk = stream.read_chunk().decode()
        if not chunk:
            break  # the server ended the stream
        text += chunk
        beats = text.count("2::")
    elapsed = time.monotonic() - started
    assert beats >= 3, text
    assert text.rstrip().endswith(
        '_("0::");</script>' if transport == "htmlfile" else "0::\r\n--socketio"
    ) or ("0::" in text[-80:]), text[-200:]
    assert HEARTBEAT_TIMEOUT - 0.1 <= elapsed <= HEARTBEAT_TIMEOUT + 1, elapsed
    wait_gone(timers, sid)


def test_stream_that_answers_heartbeats_lives_on(timers):
    sid = handshake(timers.url).sid
    stream = RawStream(transport_url(timers.url, "htmlfile", sid))
    post_url = transport_url(timers.url, "htmlfile", sid)
    started = time.monotonic()
    answered = 0
    while time.monotonic() - started < HEARTBEAT_TIMEOUT + 0.6:
        chunk = stream.read_chunk().decode()
        assert chunk, "the stream ended"
        for _ in range(chunk.count('_("2::")')):
            assert requests.post(post_url, data="2::", timeout=5).text == "1"
            answered += 1
    assert answered >= 5
    assert sid in timers.sockets()
    stream.close()


def test_a_poll_is_never_held_past_the_clients_close_timer(make_server):
    """polling_duration 1.6 s > close_timeout 1 s: the poll ends after 2/3 s, not 1.6 s.

    (The 0.9.16 client would close itself 1 s after the previous answer.) Held
    or not, the session counts as present; once the client stays away it is
    gone after close_timeout.
    """
    server = make_server(close_timeout=1, polling_duration=1.6, heartbeat_timeout=1)
    session = PollingClient(server.url)
    started = time.monotonic()
    assert session.get() == "8::"
    assert 0.6 <= time.monotonic() - started <= 0.95
    assert session.sid in server.sockets()
    last = time.monotonic()
    wait_gone(server, session.sid, 3)
    assert 0.9 <= time.monotonic() - last <= 2.0


@pytest.mark.node
def test_idle_real_polling_client_outlives_a_short_close_timeout(make_server):
    """An idle xhr-polling 0.9.16 client outlives two close timeouts of 3 s.

    The polling duration is the default 20 s; each poll ends 8:: after 2 s,
    before the client's own 3 s timer fires.
    """
    server = make_server(close_timeout=3)
    client = NodeClient(server.url)
    try:
        sid = client.connect("a", "/life", "xhr-polling")
        time.sleep(2 * 3 + 1)
        assert client.call("state", label="a")["connected"] is True
        assert sid in server.sockets()
        assert "disconnect" not in [e for _, e, _ in client.events()]
        assert client.wire("in").count("8::") >= 3
        assert client.emit("a", "echo", "awake", ack=True) == ["awake"]
    finally:
        client.close()
