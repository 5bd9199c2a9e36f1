"""Hostile input against a live server.

Each gets a clear error, is logged once without a traceback, and a
well-behaved client keeps working.

Malformed packets (an ``error`` event: ``invalid_packet`` and friends), bad
payload framing and garbage bodies (``400``), unknown and forged session ids
(``7:::1+0``, the 0.9 "handshake again"), wrong methods (``405``), websocket
protocol violations (close 1002 / 1007), bad upgrades and huge headers
(``400``); then hypothesis throws generated garbage, framed and unframed, over
xhr-polling POSTs and websocket frames.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.client09.framing import FRAME, unframe
from tests.client09.handshake import handshake
from tests.client09.polling import PollingClient
from tests.client09.waiting import wait_for
from tests.client09.websocket import WebSocketClient, open_websocket, read_to_close

from ..wsframes import client_frame as frame
from .conftest import LiveServer
from .observe import wait_gone


@pytest.fixture(scope="module")
def hostile():
    # the good client below answers no heartbeat: its session must outlive the
    # slowest test of the module (the generated garbage, ~9 s, more under load)
    server = LiveServer(heartbeat_interval=25, heartbeat_timeout=60, polling_duration=0.3).start()
    # the log file of a port may hold an earlier server's lines: only ours count
    server.first_line = len(server.log())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def good(hostile):
    """A well-behaved websocket client on /life, kept open through the whole module."""
    client = WebSocketClient(hostile.url)
    client.send("1::/life")
    assert client.recv() == "1::/life"
    client.msgid = 100
    yield client
    client.close()


@pytest.fixture
def watch(hostile, good):
    """Yields the log offset; afterwards: the good client is served, no traceback, no ERROR."""
    offset = len(hostile.log())
    yield offset
    good.msgid += 1
    assert good.call("/life", "echo", "still here", msgid=good.msgid) == ["still here"]
    assert handshake(hostile.url).sid in hostile.sockets()
    new = hostile.log()[offset:]
    assert "Traceback" not in new
    assert not [line for line in new.splitlines() if line.startswith(("ERROR", "CRITICAL"))]


def logged(server: LiveServer, offset: int, needle: str) -> list[str]:
    return [line for line in server.log()[offset:].splitlines() if needle in line]


# -- malformed packets ---------------------------------------------------------------

MALFORMED = [
    ("99::", "", "invalid_packet", "Unknown message type: 99"),
    ("x", "", "invalid_packet", "Malformed packet"),
    ("::::", "", "invalid_packet", "Unknown message type"),
    ("6:::abc", "", "invalid_packet", "Invalid ack data"),
    ("7:::zz", "", "invalid_packet", "Unknown error reason"),
    ("4:::{nope", "", "invalid_packet", "Invalid JSON"),
    ('5:::{"name":"echo","args":{}}', "", "invalid_packet", "event args must be a list"),
    ("5:::{bad json", "", "unallowed_event_name", "name must only contains"),
    ('5:::{"name":"../../etc"}', "", "unallowed_event_name", "name must only contains"),
    (
        '5::/life:{"name":"nosuchthing"}',
        "/life",
        "no_such_method",
        '"on_nosuchthing" was not found',
    ),
    ('5::/private:{"name":"data"}', "/private", "method_access_denied", "do not have access"),
    ("1::/nope", "/nope", "no_such_namespace", "doesn't exist: /nope"),
]


def error_event(raw: str) -> tuple[str, list]:
    """(endpoint, args) of an ``error`` event packet."""
    ptype, _, endpoint, data = raw.split(":", 3)
    assert ptype == "5", raw
    event = json.loads(data)
    assert event["name"] == "error", raw
    return endpoint, event["args"]


@pytest.mark.parametrize("transport", ["websocket", "xhr-polling"])
@pytest.mark.parametrize(
    ("raw", "endpoint", "name", "message"),
    MALFORMED,
    ids=[m[2] + ":" + m[0][:12] for m in MALFORMED],
)
def test_malformed_packet_gets_an_error_event(
    hostile, watch, transport, raw, endpoint, name, message
):
    if transport == "websocket":
        client = WebSocketClient(hostile.url)
        client.send(raw)
        answer = client.recv()
        sid = client.sid
    else:
        session = PollingClient(hostile.url)
        assert session.post(raw).text == "1"
        answer = unframe(session.get())[0]
        sid = session.sid
    got_endpoint, args = error_event(answer)
    assert got_endpoint == endpoint
    assert args[0] == name
    assert message in args[1]
    # logged at most once (a kind of mistake is logged once every ten seconds,
    # and other tests make the same ones), and the session goes on
    assert len(logged(hostile, watch, f"error sent to {sid}: {name}")) <= 1
    assert sid in hostile.sockets()
    if transport == "websocket":
        assert client.call("", "echo", "ok", msgid=1) == ["ok"]
        client.close()
    else:
        session.post('5:1+::{"name":"echo","args":["ok"]}')
        assert unframe(session.get()) == ['6:::1+["ok"]']


# -- bad framing and garbage bodies --------------------------------------------------

BAD_BODIES = [
    (f"{FRAME}5{FRAME}1::", "runs past the end"),
    (f"{FRAME}x{FRAME}1::", "Missing frame length"),
    (FRAME, "Missing frame length"),
    (f"{FRAME}3{FRAME}2::{FRAME}", "Missing frame length"),
    (f"{FRAME}99999999999999999999{FRAME}1", "Frame length not closed"),
    (f"{FRAME}-1{FRAME}", ""),
]


@pytest.mark.parametrize(("body", "reason"), BAD_BODIES, ids=[repr(b[0])[:20] for b in BAD_BODIES])
def test_bad_payload_framing_gets_400(hostile, watch, body, reason):
    session = PollingClient(hostile.url)
    resp = session.post(body)
    assert resp.status_code == 400
    assert reason in resp.text
    assert len(logged(hostile, watch, f"{session.sid} (CONNECTED): refused POST body")) == 1
    assert session.get() == "8::"  # nothing was delivered; the session lives on


@pytest.mark.parametrize(
    ("transport", "body", "content_type"),
    [
        ("xhr-polling", b"\xff\xfe\x00garbage", "text/plain"),
        ("jsonp-polling", b"x=1", "application/x-www-form-urlencoded"),
        ("jsonp-polling", b"d=%22unterminated", "application/x-www-form-urlencoded"),
        ("jsonp-polling", b"\xff\xfe", "application/x-www-form-urlencoded"),
    ],
    ids=["not-utf8", "no-d-field", "d-bad-json-string", "form-not-utf8"],
)
def test_garbage_body_gets_400(hostile, watch, transport, body, content_type):
    session = PollingClient(hostile.url, transport)
    resp = session.http.post(
        session.url, data=body, headers={"Content-Type": content_type}, timeout=5
    )
    assert resp.status_code == 400, resp.text
    assert len(logged(hostile, watch, f"{session.sid} (CONNECTED): refused POST body")) == 1
    assert session.get() == "8::"  # nothing was delivered; the session lives on


@pytest.mark.parametrize(
    "body", [b"d=%ZZ%", b"d=not+json", b"d=%5B1%5D"], ids=["bad-escape", "raw-d", "d-json-list"]
)
def test_jsonp_form_with_a_raw_d_is_a_packet_like_any_other(hostile, watch, body):
    """A ``d`` that is not a JSON string is taken as the raw payload.

    That is lenient, as the original was: here it is no packet, so the client
    gets ``invalid_packet``.
    """
    session = PollingClient(hostile.url, "jsonp-polling")
    resp = session.http.post(
        session.url,
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert resp.status_code == 200
    _, args = error_event(unframe(session.get())[0])
    assert args[0] == "invalid_packet"
    assert len(logged(hostile, watch, f"error sent to {session.sid}: invalid_packet")) <= 1


# -- unknown and forged session ids --------------------------------------------------


def forged_sids(real: str) -> list[str]:
    flipped = real[:-1] + ("0" if real[-1] != "0" else "1")
    return [flipped, real.upper(), real + "0", "0" * 32, "zz", "%C3%A9", "%00", "null"]


def test_unknown_and_forged_sids_are_told_to_handshake_again(hostile, watch):
    real = handshake(hostile.url).sid
    before = set(hostile.sockets())
    for sid in forged_sids(real):
        base = f"{hostile.url}/socket.io/1"
        assert requests.get(f"{base}/xhr-polling/{sid}", timeout=5).text == "7:::1+0"
        assert requests.post(f"{base}/xhr-polling/{sid}", data="1::", timeout=5).text == "7:::1+0"
        assert (
            requests.get(f"{base}/jsonp-polling/{sid}?i=3", timeout=5).text == 'io.j[3]("7:::1+0");'
        )
        assert '_("7:::1+0")' in requests.get(f"{base}/htmlfile/{sid}", timeout=5).text
        ws = open_websocket(hostile.url, sid)
        assert read_to_close(ws) == (["7:::1+0"], 1000)
        ws.close()
    # no session was created or touched by them
    assert set(hostile.sockets()) - before <= {real}
    assert real in hostile.sockets()


def test_absurd_sids_get_4xx(hostile, watch):
    base = f"{hostile.url}/socket.io/1"
    assert requests.get(f"{base}/xhr-polling/{'x' * 20000}", timeout=5).status_code == 414
    assert requests.get(f"{base}/xhr-polling/../../etc/passwd", timeout=5).status_code == 404
    assert requests.get(f"{base}/xhr-polling/a/b/c", timeout=5).status_code == 400
    assert requests.get(f"{base}/nosuchtransport/abc", timeout=5).status_code == 400
    assert requests.get(f"{base}/jsonp-polling/abc?i=alert(1)", timeout=5).status_code == 400


# -- wrong methods -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_wrong_methods_get_405(hostile, watch, method):
    before = set(hostile.sockets())
    handshake_resp = requests.request(method, hostile.url + "/socket.io/1/", timeout=5)
    assert handshake_resp.status_code == 405
    assert handshake_resp.headers["Allow"] == "GET, POST, OPTIONS"
    assert set(hostile.sockets()) <= before  # no session for it
    session = PollingClient(hostile.url)
    resp = requests.request(method, session.url, data=b"1::/life", timeout=5)
    assert resp.status_code == 405
    assert "GET" in resp.headers["Allow"]
    assert session.get() == "8::"  # nothing was delivered


def test_handshake_preflight_creates_no_session(hostile, watch):
    before = set(hostile.sockets())
    resp = requests.options(
        hostile.url + "/socket.io/1/", headers={"Origin": "http://a.example"}, timeout=5
    )
    assert resp.status_code == 200
    assert resp.text == ""
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert set(hostile.sockets()) <= before
    assert requests.head(hostile.url + "/socket.io/1/", timeout=5).status_code == 405


# -- websocket protocol violations ---------------------------------------------------


def raw_upgrade(
    port: int, sid: str, key: str | None = None, version: str = "13", http="1.1", then=b""
):
    """Open a websocket by hand; return (socket, status line, bytes already read after it).

    ``then``: bytes sent in the same write as the request (frames the client
    does not wait to send).
    """
    conn = socket.create_connection(("127.0.0.1", port), timeout=3)
    key = base64.b64encode(os.urandom(16)).decode() if key is None else key
    conn.sendall(
        (
            f"GET /socket.io/1/websocket/{sid} HTTP/{http}\r\nHost: x\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: {version}\r\n\r\n"
        ).encode()
        + then
    )
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return conn, head.split(b"\r\n")[0].decode(), rest


def read_all(conn: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def close_code(data: bytes) -> int | None:
    """The status code of the close frame in a server byte stream."""
    pos = 0
    while pos + 2 <= len(data):
        opcode, n = data[pos] & 0x0F, data[pos + 1] & 0x7F
        pos += 2
        if n == 126:
            n = struct.unpack("!H", data[pos : pos + 2])[0]
            pos += 2
        if opcode == 8:
            return struct.unpack("!H", data[pos : pos + 2])[0]
        pos += n
    return None


PROTOCOL_VIOLATIONS = {
    "reserved bits": (frame(b"2::", rsv=4), 1002, "reserved bits"),
    "unmasked": (frame(b"2::", mask=False), 1002, "not masked"),
    "unknown opcode": (frame(b"x", opcode=5), 1002, "opcode"),
    "ping over 125": (frame(b"x" * 200, opcode=9), 1002, "Control frame"),
    "fragmented ping": (frame(b"x", opcode=9, fin=False), 1002, "fragmented control"),
    "continuation first": (frame(b"x", opcode=0), 1002, "opcode=0"),
    "text not utf-8": (frame(b"\xff\xfe"), 1007, "invalid UTF-8"),
}


@pytest.mark.parametrize("name", list(PROTOCOL_VIOLATIONS))
def test_websocket_protocol_violation_closes_the_connection(hostile, watch, name):
    data, code, reason = PROTOCOL_VIOLATIONS[name]
    sid = handshake(hostile.url).sid
    conn, status, rest = raw_upgrade(hostile.port, sid)
    assert status == "HTTP/1.1 101 Switching Protocols"
    conn.sendall(data)
    assert close_code(rest + read_all(conn)) == code
    conn.close()
    wait_gone(hostile, sid)
    lines = logged(hostile, watch, "closing a websocket from")
    assert len(lines) == 1, lines
    assert reason in lines[0], lines


def test_frames_sent_with_the_upgrade_request_are_read(hostile):
    # They arrive in the request's read: the server takes them from its
    # request reader before it reads the connection itself.
    sid = handshake(hostile.url).sid
    event = b'5:1+::{"name":"echo","args":["early"]}'
    conn, status, rest = raw_upgrade(
        hostile.port, sid, then=frame(b"ping", opcode=9) + frame(event)
    )
    assert status == "HTTP/1.1 101 Switching Protocols"
    data = rest
    while b'6:::1+["early"]' not in data:
        chunk = conn.recv(65536)
        assert chunk, data
        data += chunk
    assert data == b"\x81\x031::" + b"\x8a\x04ping" + b'\x81\x0f6:::1+["early"]'
    conn.close()


def test_binary_frame_that_is_not_utf8_is_dropped(hostile, watch):
    client = WebSocketClient(hostile.url)
    client.ws.send_binary(b"\xff\xfe\xfd")
    assert client.call("", "echo", "after", msgid=1) == ["after"]
    assert len(logged(hostile, watch, f"{client.sid} (CONNECTED): dropped a binary frame")) == 1
    client.close()


@pytest.mark.parametrize(
    ("options", "status"),
    [
        ({"key": "not-base64!"}, "400"),
        ({"key": base64.b64encode(b"short").decode()}, "400"),
        ({"version": "6"}, "400"),
        ({"http": "1.0"}, "400"),
    ],
    ids=["bad-key", "short-key", "old-version", "http-1.0"],
)
def test_bad_websocket_upgrade_gets_400(hostile, watch, options, status):
    sid = handshake(hostile.url).sid
    conn, line, _ = raw_upgrade(hostile.port, sid, **options)
    assert line.split()[1] == status, line
    conn.close()
    assert sid in hostile.sockets()  # the session was not opened by it


def test_websocket_url_without_upgrade_gets_400(hostile, watch):
    sid = handshake(hostile.url).sid
    resp = requests.get(f"{hostile.url}/socket.io/1/websocket/{sid}", timeout=5)
    assert resp.status_code == 400
    assert resp.text == "websocket upgrade required"


# -- huge or broken requests ---------------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "needle"),
    [
        (
            b"GET /socket.io/1/ HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: v\r\n" % i for i in range(300))
            + b"\r\n",
            "got more than 100 headers",
        ),
        (
            b"GET /socket.io/1/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
            "Line too long",
        ),
        (b"\x16\x03\x01\x02\x00garbage that is no HTTP\r\n\r\n", ") Invalid"),
    ],
    ids=["300-headers", "200KB-header", "tls-hello"],
)
def test_huge_or_broken_request_gets_400(hostile, watch, request_bytes, needle):
    conn = socket.create_connection(("127.0.0.1", hostile.port), timeout=3)
    conn.sendall(request_bytes)
    answer = read_all(conn)
    conn.close()
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:100]
    assert len(wait_for(lambda: logged(hostile, watch, needle), what=needle)) == 1


# -- generated garbage ---------------------------------------------------------------


def js_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


packet_like = st.builds(
    lambda t, i, ep, data: f"{t}:{i}:{ep}:{data}",
    st.sampled_from([*"0123456789x", "", "10", "-1"]),
    st.sampled_from(["", "1", "1+", "+", "x", "99999999999999999999"]),
    st.sampled_from(["", "/life", "/nope", "/private", ":"]),
    st.text(max_size=60),
)
framed = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(-3, 80)), st.one_of(st.text(max_size=40), packet_like)
    ),
    min_size=1,
    max_size=4,
).map(lambda parts: "".join(f"{FRAME}{js_len(p) if n is None else n}{FRAME}{p}" for n, p in parts))
garbage_text = st.one_of(st.text(max_size=200), packet_like, framed)
garbage = st.one_of(garbage_text, st.binary(max_size=200))


@settings(
    max_examples=300,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=garbage)
def test_generated_garbage_over_polling_and_websocket(hostile, good, data):
    offset = len(hostile.log())
    # over an xhr-polling POST
    session = PollingClient(hostile.url)
    body = data if isinstance(data, bytes) else data.encode("utf-8")
    resp = session.http.post(session.url, data=body, timeout=5)
    assert resp.status_code in (200, 400), (resp.status_code, resp.text)
    # over a websocket frame (text, or binary for bytes)
    client = WebSocketClient(hostile.url)
    if isinstance(data, bytes):
        client.ws.send_binary(data)
    else:
        client.ws.send(data)
    client.close()
    new = hostile.log()[offset:]
    assert "Traceback" not in new, new[-3000:]
    assert not [line for line in new.splitlines() if line.startswith(("ERROR", "CRITICAL"))]


def test_server_still_serves_after_the_garbage(hostile, good):
    good.msgid += 1
    assert good.call("/life", "echo", "survived", msgid=good.msgid) == ["survived"]
    session = PollingClient(hostile.url)
    session.post('5:1+::{"name":"echo","args":["fine"]}')
    assert unframe(session.get()) == ['6:::1+["fine"]']
    assert "Traceback" not in hostile.log()[hostile.first_line :]
