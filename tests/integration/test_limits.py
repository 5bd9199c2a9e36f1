"""Bounded resources, against a live server with small limits.

- ``max_queue_size``: a client that lets packets pile up (a websocket that
  stops reading, a polling client that stops polling) is disconnected with a
  logged reason; other clients are unaffected; its connection does not linger.
- ``max_body_size``: an oversized POST body gets ``413`` at once, without the
  server reading it (not even to discard it), and the connection is closed.
- ``max_message_size``: an oversized websocket message, whole or fragmented,
  or a frame that merely announces a huge length, gets close code 1009.
- Sessions that handshook but never connected expire after ``close_timeout``.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from tests.client09.framing import unframe
from tests.client09.handshake import handshake
from tests.client09.polling import PollingClient
from tests.client09.waiting import wait_for
from tests.client09.websocket import WebSocketClient

from ..wsframes import client_frame as ws_frame
from .conftest import LiveServer
from .node_client import NodeClient
from .observe import ended, hooks, kinds, wait_gone

MAX_QUEUE = 20
MAX_BODY = 4096
MAX_MESSAGE = 4096
CLOSE_TIMEOUT = 1.0
#: WebsocketTransport.close_grace
CLOSE_GRACE = 2.0


@pytest.fixture(scope="module")
def limited():
    server = LiveServer(
        heartbeat_interval=5,
        heartbeat_timeout=10,
        close_timeout=CLOSE_TIMEOUT,
        polling_duration=0.5,
        max_queue_size=MAX_QUEUE,
        max_body_size=MAX_BODY,
        max_message_size=MAX_MESSAGE,
    ).start()
    yield server
    server.stop()


def log_lines(server: LiveServer, offset: int, needle: str) -> list[str]:
    return [line for line in server.log()[offset:].splitlines() if needle in line]


def drain(sock: socket.socket) -> None:
    """Read ``sock`` until it ends; an abortive close raises ``ConnectionResetError``."""
    while sock.recv(1 << 20):
        pass


# -- slow consumers ------------------------------------------------------------------


@pytest.mark.node
def test_slow_websocket_consumer_is_disconnected_and_others_unaffected(limited):
    good = NodeClient(limited.url)
    try:
        good_sid = good.connect("a", "/life", "websocket")
        slow = WebSocketClient(limited.url)
        # A small receive buffer: the server's writes block sooner.
        slow.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.send("1::/life")
        assert slow.recv() == "1::/life"
        offset = len(limited.log())
        slow.emit("/life", "push", 5000, 65536)  # 320 MB if it were all queued
        # ...and it reads nothing from now on.
        while slow.sid in limited.sockets():
            assert good.emit("a", "echo", "still served", ack=True) == ["still served"]
        gone_at = time.monotonic()
        # Disconnected for a logged reason, once; its namespace ran recv_disconnect.
        warnings = log_lines(limited, offset, "slow consumer")
        assert len(warnings) == 1, warnings
        assert slow.sid in warnings[0]
        assert warnings[0].startswith("WARNING")
        wait_for(lambda: ended(limited, slow.sid))
        assert [k for k, _, _ in hooks(limited, slow.sid, "/life")][-2:] == [
            "recv_disconnect",
            "disconnect",
        ]
        # The other client did not notice.
        assert good.call("state", label="a")["connected"] is True
        assert good_sid in limited.sockets()
        assert good.emit("a", "echo", "after", ack=True) == ["after"]
        assert "disconnect" not in [e for _, e, _ in good.events()]
        # The server does not keep the connection of a client that never reads
        # (its writer is stuck on a full TCP buffer): dropped after the grace.
        time.sleep(max(0.0, CLOSE_GRACE + 0.5 - (time.monotonic() - gone_at)))
        slow.ws.sock.settimeout(3)
        with pytest.raises(ConnectionResetError):  # not a timeout: an abortive close
            drain(slow.ws.sock)
        assert log_lines(
            limited, offset, "dropping the websocket connection its client did not close"
        )
    finally:
        good.close()


def test_slow_htmlfile_consumer_is_disconnected_and_its_stream_dropped(limited):
    sid = handshake(limited.url).sid
    stream = socket.create_connection(("127.0.0.1", limited.port), timeout=5)
    stream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stream.sendall(f"GET /socket.io/1/htmlfile/{sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    post_url = f"{limited.url}/socket.io/1/htmlfile/{sid}"
    wait_for(lambda: requests.post(post_url, data="1::/life", timeout=5).text == "1")
    offset = len(limited.log())
    requests.post(post_url, data='5::/life:{"name":"push","args":[5000,65536]}', timeout=5)
    # ...and the stream is never read.
    wait_gone(limited, sid)
    warnings = log_lines(limited, offset, "slow consumer")
    assert len(warnings) == 1, warnings
    assert sid in warnings[0], warnings
    time.sleep(CLOSE_GRACE + 0.5)
    assert log_lines(limited, offset, "dropping the htmlfile connection its client did not close")
    stream.settimeout(3)
    with pytest.raises(ConnectionResetError):
        drain(stream)
    stream.close()


def test_slow_polling_consumer_is_disconnected(limited):
    session = PollingClient(limited.url)
    session.post("1::/life")
    offset = len(limited.log())
    session.post('5::/life:{"name":"push","args":[200,10]}')  # and it does not poll
    wait_gone(limited, session.sid)
    warnings = log_lines(limited, offset, "slow consumer")
    assert len(warnings) == 1, warnings
    assert session.sid in warnings[0], warnings
    # Its next poll gets what was queued (up to the limit) and is told it was booted.
    packets = unframe(session.get())
    assert packets[0] == "1::/life"
    assert packets[-1] == "0::"
    pushes = [p for p in packets if p.startswith("5::/life:")]
    assert 0 < len(pushes) <= MAX_QUEUE
    assert session.get() == "7:::1+0"


# -- HTTP bodies ---------------------------------------------------------------------


def raw_post(port: int, path: str, headers: str, body: bytes) -> tuple[bytes, float, bool]:
    """POST on a raw socket; return (response bytes, seconds to answer, closed by the server)."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=3)
    started = time.monotonic()
    conn.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body)
    data = b""
    closed = False
    answered = None
    try:
        while True:
            chunk = conn.recv(65536)
            if answered is None and chunk:
                answered = time.monotonic() - started
            if not chunk:
                closed = True
                break
            data += chunk
    except socket.timeout:  # (TimeoutError from 3.10; not yet on PyPy 3.9)
        pass
    conn.close()
    return data, answered if answered is not None else 99.0, closed


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ("Content-Length: 10737418240\r\n", b"0123456789"),
        ("Content-Length: 4097\r\n", b"x" * 4097),
        (
            "Transfer-Encoding: chunked\r\n",
            b"".join(b"400\r\n" + b"x" * 1024 + b"\r\n" for _ in range(8)),
        ),
    ],
    ids=["10GB-announced", "one-byte-over", "chunked-over"],
)
def test_oversized_post_body_gets_413_without_being_read(limited, headers, body):
    session = PollingClient(limited.url)
    path = f"/socket.io/1/xhr-polling/{session.sid}"
    offset = len(limited.log())
    data, answered, closed = raw_post(limited.port, path, headers, body)
    head, _, text = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), data[:200]
    assert b"exceeds 4096" in text
    assert b"connection: close" in head.lower()
    assert answered < 0.5  # at once: not after reading (or waiting for) the body
    assert closed  # the unread rest of the body cannot be taken for a next request
    lines = log_lines(limited, offset, "refused POST body")
    assert len(lines) == 1
    assert "exceeds 4096" in lines[0]
    assert "Traceback" not in limited.log()[offset:]
    # The session was not harmed.
    assert session.post("2::").text == "1"
    assert session.sid in limited.sockets()


@pytest.mark.parametrize("transport", ["xhr-polling", "jsonp-polling"])
def test_body_at_the_limit_is_accepted(limited, transport):
    session = PollingClient(limited.url, transport)
    # a JSON event whose encoded body is just under the limit
    text = "y" * (MAX_BODY - 200)
    packet = '5:1+::{"name":"echo","args":[' + json.dumps(text) + "]}"
    resp = session.post(packet)
    assert resp.status_code == 200
    assert unframe(session.get()) == ["6:::1+" + json.dumps([text], separators=(",", ":"))]


# -- websocket messages --------------------------------------------------------------


def oversized(client: WebSocketClient, kind: str) -> None:
    raw = client.ws.sock
    if kind == "whole":
        client.send("3::/life:" + "z" * MAX_MESSAGE)
    elif kind == "fragmented":  # three fragments of 2000: each fine, 6000 in all
        raw.sendall(ws_frame(b"3::/life:" + b"z" * 1991, opcode=1, fin=False))
        raw.sendall(ws_frame(b"z" * 2000, opcode=0, fin=False))
        raw.sendall(ws_frame(b"z" * 2000, opcode=0, fin=True))
    else:  # a header announcing 10 GB, followed by a few bytes
        raw.sendall(ws_frame(b"3::/life:zz", length=10 * 2**30))


@pytest.mark.parametrize("kind", ["whole", "fragmented", "10GB-announced"])
def test_oversized_websocket_message_closes_with_1009(limited, kind):
    client = WebSocketClient(limited.url)
    client.send("1::/life")
    assert client.recv() == "1::/life"
    offset = len(limited.log())
    started = time.monotonic()
    oversized(client, kind)
    packets, code = client.read_to_close()
    assert code == 1009
    assert time.monotonic() - started < 1  # the 10 GB were never waited for
    assert packets == []
    wait_gone(limited, client.sid)
    wait_for(lambda: "recv_disconnect" in kinds(limited, client.sid))
    # one line at most: the kinds of refusal are logged once every ten
    # seconds, and the cases before this one were refused alike
    lines = log_lines(limited, offset, "message over 4096 bytes")
    assert len(lines) <= 1, lines
    assert "Traceback" not in limited.log()[offset:]


def test_websocket_message_at_the_limit_is_accepted(limited):
    client = WebSocketClient(limited.url)
    text = "w" * (MAX_MESSAGE - 100)
    assert client.call("/life", "echo", text) == [text]
    # the limit is on what comes in: answers may be larger
    client.send("1::/chat")
    assert client.recv_until("1::/chat")
    assert client.call("/chat", "big", 3 * MAX_MESSAGE, msgid=7) == ["x" * 3 * MAX_MESSAGE]
    client.close()


# -- handshakes that never connect ---------------------------------------------------


def test_handshaken_sessions_that_never_connect_expire(limited):
    http = requests.Session()
    handshaken: dict[str, float] = {}
    for _ in range(200):
        sid = http.get(limited.url + "/socket.io/1/", timeout=5).text.split(":")[0]
        handshaken[sid] = time.monotonic()
    present, now = set(limited.sockets()), time.monotonic()
    # (200 handshakes may take longer than the close timeout on a cold JIT:
    # only the sessions younger than it must still be there)
    assert not [
        sid
        for sid, at in handshaken.items()
        if sid not in present and now - at < 0.9 * CLOSE_TIMEOUT
    ]
    wait_for(
        lambda: not set(handshaken) & set(limited.sockets()),
        CLOSE_TIMEOUT + 2,
        "the never-connected sessions to expire",
    )
    assert time.monotonic() - max(handshaken.values()) <= CLOSE_TIMEOUT + 1.5
    # the server is still serving
    assert handshake(limited.url).sid in limited.sockets()
