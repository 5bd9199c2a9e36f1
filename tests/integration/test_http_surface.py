"""The HTTP surface of the server, checked on the wire with ``requests`` and raw sockets.

Handshakes (text and JSONP), the fixed answers under ``/socket.io/``, refused
transports, unknown sessions on every kind of transport, the forced-disconnect
URLs the 0.9.16 client sends, CORS, the xhr-polling exchange, plain WSGI
requests, and malformed bodies.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
import requests
import websocket

from tests.client09.framing import frame, unframe
from tests.client09.handshake import TIMEOUT, handshake, transport_url
from tests.client09.http import RawStream
from tests.client09.waiting import wait_for

from .observe import queued

ORIGIN = "http://app.example.com:8080"


def get(url: str, **kw):
    return requests.get(url, timeout=TIMEOUT, **kw)


def post(url: str, body: str, **kw):
    return requests.post(url, data=body.encode("utf-8"), timeout=TIMEOUT, **kw)


def open_polling_session(url: str) -> tuple[str, str]:
    """Handshake and open xhr-polling (the first GET); return (sid, transport URL)."""
    sid = handshake(url).sid
    xhr = transport_url(url, "xhr-polling", sid)
    first = get(xhr)
    assert first.status_code == 200
    assert first.text == "1::"
    return sid, xhr


def log_since(server, offset: int) -> str:
    return server.log()[offset:]


# -- handshake ---------------------------------------------------------------


def test_text_handshake(live_server):
    resp = get(live_server.url + "/socket.io/1/", params={"t": "1234"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    sid, heartbeat, close, transports = resp.text.split(":")
    assert re.fullmatch(r"[0-9a-f]{32,}", sid), sid
    assert heartbeat == "60"
    assert close == "60"
    assert transports.split(",") == [
        "websocket",
        "flashsocket",
        "htmlfile",
        "xhr-multipart",
        "xhr-polling",
        "jsonp-polling",
    ]


def test_handshake_sids_are_unique(live_server):
    sids = [handshake(live_server.url).sid for _ in range(30)]
    assert len(set(sids)) == len(sids)
    assert all(len(sid) * 4 >= 128 for sid in sids)


def test_jsonp_handshake(live_server):
    resp = get(live_server.url + "/socket.io/1/", params={"jsonp": "3", "t": "1"})
    assert resp.status_code == 200
    assert "javascript" in resp.headers["Content-Type"]
    match = re.fullmatch(r'io\.j\[3\]\(("[^"]*")\);', resp.text)
    assert match, resp.text
    body = json.loads(match.group(1))
    sid, heartbeat, close, transports = body.split(":")
    assert re.fullmatch(r"[0-9a-f]{32,}", sid)
    assert (heartbeat, close) == ("60", "60")
    assert "xhr-polling" in transports.split(",")
    # the session exists: it can be opened
    assert get(transport_url(live_server.url, "xhr-polling", sid)).text == "1::"


@pytest.mark.parametrize("index", ["abc", "1);alert(1", "-1", ""])
def test_jsonp_handshake_with_non_numeric_index_is_refused(live_server, index):
    before = len(live_server.sockets())
    resp = get(live_server.url + "/socket.io/1/", params={"jsonp": index})
    assert 400 <= resp.status_code < 500
    assert "io.j" not in resp.text
    assert len(live_server.sockets()) == before  # no session was created


def test_welcome(live_server):
    resp = get(live_server.url + "/socket.io/")
    assert resp.status_code == 200
    assert resp.text == "Welcome to socket.io."


@pytest.mark.parametrize("version", ["0", "2", "9"])
def test_other_protocol_versions_answer_500(live_server, version):
    resp = get(f"{live_server.url}/socket.io/{version}/")
    assert resp.status_code == 500
    assert "Traceback" not in resp.text


# -- refused transports ----------------------------------------------------


def test_unknown_transport_is_refused(live_server):
    offset = len(live_server.log())
    sid = handshake(live_server.url).sid
    for method in (get, lambda u: post(u, "5:::{}")):
        resp = method(transport_url(live_server.url, "carrier-pigeon", sid))
        assert 400 <= resp.status_code < 500, resp.status_code
    assert get(live_server.url + "/socket.io/").status_code == 200  # still serving
    log = log_since(live_server, offset)
    assert "Traceback" not in log
    assert "carrier-pigeon" in log


def test_disabled_transport_is_refused(make_server):
    server = make_server(transports="xhr-polling")
    offset = len(server.log())
    resp = get(server.url + "/socket.io/1/")
    sid, _, _, transports = resp.text.split(":")
    assert transports == "xhr-polling"
    for name in ("jsonp-polling", "htmlfile", "xhr-multipart", "websocket", "flashsocket"):
        resp = get(transport_url(server.url, name, sid))
        assert 400 <= resp.status_code < 500, (name, resp.status_code)
    # a websocket upgrade on a disabled transport is refused too
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(
            transport_url(server.url.replace("http", "ws"), "websocket", sid), timeout=TIMEOUT
        )
    assert 400 <= info.value.status_code < 500
    # the enabled one works
    assert get(transport_url(server.url, "xhr-polling", sid)).text == "1::"
    assert "Traceback" not in log_since(server, offset)


# -- unknown sessions ------------------------------------------------------


def test_unknown_sid_on_xhr_polling(live_server):
    url = transport_url(live_server.url, "xhr-polling", "0123456789abcdef0123456789abcdef")
    resp = get(url)
    assert resp.status_code == 200
    assert resp.text == "7:::1+0"
    resp = post(url, "5:::{}")
    assert resp.text == "7:::1+0"


def test_unknown_sid_on_jsonp_polling(live_server):
    url = transport_url(live_server.url, "jsonp-polling", "0123456789abcdef0123456789abcdef")
    resp = get(url, params={"t": "1", "i": "5"})
    assert resp.status_code == 200
    assert resp.text == 'io.j[5]("7:::1+0");'


def test_unknown_sid_on_websocket(live_server):
    url = transport_url(
        live_server.url.replace("http", "ws"), "websocket", "0123456789abcdef0123456789abcdef"
    )
    ws = websocket.create_connection(url, timeout=TIMEOUT)
    try:
        assert ws.recv() == "7:::1+0"
        try:
            rest = ws.recv()
        except websocket.WebSocketConnectionClosedException:
            rest = ""
        assert rest == ""
        assert not ws.connected
    finally:
        ws.close()


# -- forced disconnect ---------------------------------------------------


def _session_with_namespaces(url: str) -> tuple[str, str]:
    """An xhr-polling session with '' and '/chat' active."""
    sid, xhr = open_polling_session(url)
    assert post(xhr, frame("1::/chat", '5:1+::{"name":"whoami"}')).text == "1"
    packets: list[str] = []
    for _ in range(3):
        packets += unframe(get(xhr).text)
        if f'6:::1+["{sid}"]' in packets and "1::/chat" in packets:
            return sid, xhr
    raise AssertionError(f"the session did not open its namespaces: {packets}")


def _recv_disconnects(server, sid: str) -> set[str]:
    return {ns for kind, ns, s, _ in server.events() if kind == "recv_disconnect" and s == sid}


@pytest.mark.parametrize(
    "path",
    [
        "/socket.io/1//{sid}/?disconnect=1",  # what the 0.9.16 client sends on unload
        "/socket.io/1/xhr-polling/{sid}?disconnect=1",
    ],
)
def test_forced_disconnect(live_server, path):
    sid, _ = _session_with_namespaces(live_server.url)
    assert sid in live_server.sockets()
    assert _recv_disconnects(live_server, sid) == set()
    resp = get(live_server.url + path.format(sid=sid))
    assert resp.status_code == 200
    wait_for(lambda: sid not in live_server.sockets(), what="the session to go")
    wait_for(lambda: _recv_disconnects(live_server, sid) == {"", "/chat"}, what="recv_disconnect")


def test_forced_disconnect_of_unknown_sid_is_harmless(live_server):
    resp = get(live_server.url + "/socket.io/1//0123456789abcdef0123456789abcdef/?disconnect=1")
    assert resp.status_code < 500


# -- CORS ----------------------------------------------------------------


def test_cors_on_xhr_polling(live_server):
    sid = handshake(live_server.url).sid
    url = transport_url(live_server.url, "xhr-polling", sid)
    resp = get(url, headers={"Origin": ORIGIN})
    assert resp.text == "1::"
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    resp = post(url, "2::", headers={"Origin": ORIGIN, "Content-Type": "text/plain"})
    assert resp.text == "1"
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"


def test_cors_on_handshake(live_server):
    resp = get(live_server.url + "/socket.io/1/", headers={"Origin": ORIGIN})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"


# -- xhr-polling at the wire level -----------------------------------------


def test_polling_first_get_answers_at_once(live_server):
    sid = handshake(live_server.url).sid
    start = time.monotonic()
    resp = get(transport_url(live_server.url, "xhr-polling", sid))
    assert resp.text == "1::"
    assert time.monotonic() - start < 1


def test_polling_post_of_several_packets_and_framed_answer(live_server):
    _sid, xhr = open_polling_session(live_server.url)
    body = frame(
        "1::/chat",
        '5:1+:/chat:{"name":"echo","args":["a",1]}',
        '5:2+::{"name":"echo","args":["hi"]}',
        "3:3::plain text",  # id without '+': auto-acked
    )
    resp = post(xhr, body)
    assert resp.status_code == 200
    assert resp.text == "1"

    pending: list[str] = []
    for _ in range(5):
        pending += [p for p in unframe(get(xhr).text) if p != "8::"]
        if len(pending) >= 5:
            break
    assert set(pending) == {
        "1::/chat",
        '5::/chat:{"args":["/chat"],"name":"welcome"}',
        '6::/chat:1+["a",1]',
        '6:::2+["hi"]',
        "6:::3",
    }


def test_polling_queued_packets_come_framed_in_one_answer(live_server):
    sid, xhr = open_polling_session(live_server.url)
    post(xhr, frame("1::/chat", '5:1+:/chat:{"name":"echo","args":[7]}'))
    # wait until the receiver loop has handled both packets, then poll once
    wait_for(lambda: queued(live_server, sid) == 3, what="three packets queued")
    body = get(xhr).text
    assert body.startswith("\ufffd")
    assert unframe(body) == [
        "1::/chat",
        '5::/chat:{"args":["/chat"],"name":"welcome"}',
        "6::/chat:1+[7]",
    ]


def test_polling_get_is_held_until_there_is_data(live_server):
    _sid, xhr = open_polling_session(live_server.url)
    result: dict = {}

    def poll():
        start = time.monotonic()
        result["resp"] = get(xhr)
        result["elapsed"] = time.monotonic() - start

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.4)  # the test: nothing to say for that long
    assert "resp" not in result  # held
    assert post(xhr, '5:1+::{"name":"echo","args":["late"]}').text == "1"
    thread.join(TIMEOUT)
    assert result["resp"].text == '6:::1+["late"]'
    assert result["elapsed"] >= 0.4


def test_polling_get_answers_noop_after_polling_duration(make_server):
    server = make_server(polling_duration=0.5)
    _sid, xhr = open_polling_session(server.url)
    start = time.monotonic()
    resp = get(xhr)
    elapsed = time.monotonic() - start
    assert resp.text == "8::"
    assert 0.4 <= elapsed < 3
    # the session is still alive and usable
    assert post(xhr, '5:1+::{"name":"echo","args":[1]}').text == "1"
    assert get(xhr).text == "6:::1+[1]"


# -- everything else -------------------------------------------------------


def test_plain_request_reaches_the_wsgi_app(live_server):
    resp = get(live_server.url + "/nothing")
    assert resp.status_code == 404
    assert resp.text == "not found"  # the app's own answer
    assert get(live_server.url + "/_sockets").status_code == 200
    # a path that merely starts with the resource name is not Socket.IO's
    assert get(live_server.url + "/socket.iox/1/").text == "not found"


@pytest.mark.parametrize(
    "body",
    [
        "\ufffd99\ufffd5:::{}",  # length runs past the end
        "\ufffdx\ufffd2::",  # length is not a number
        "\ufffd3",  # length never closed
    ],
)
def test_malformed_post_body(live_server, body):
    offset = len(live_server.log())
    _sid, xhr = open_polling_session(live_server.url)
    resp = post(xhr, body)
    assert 400 <= resp.status_code < 500
    assert resp.text
    assert "Traceback" not in resp.text
    assert re.search(r"frame|length|payload", resp.text, re.IGNORECASE), resp.text
    # another client is served normally
    _, other = open_polling_session(live_server.url)
    assert post(other, '5:1+::{"name":"echo","args":["still here"]}').text == "1"
    assert get(other).text == '6:::1+["still here"]'
    assert "Traceback" not in log_since(live_server, offset)


def test_post_body_that_is_not_utf8(live_server):
    _sid, xhr = open_polling_session(live_server.url)
    resp = requests.post(xhr, data=b"5:::\xff\xfe", timeout=TIMEOUT)
    assert 400 <= resp.status_code < 500
    assert "UTF-8" in resp.text


# -- the response head, on a raw connection ---------------------------------


@pytest.mark.parametrize(
    ("version", "connection", "expected", "closes"),
    [
        ("HTTP/1.1", None, None, False),
        ("HTTP/1.1", "close", None, True),
        ("HTTP/1.0", None, "close", True),
        ("HTTP/1.0", "keep-alive", "keep-alive", False),
    ],
)
def test_answer_head_and_connection_handling(live_server, version, connection, expected, closes):
    """The head pywsgi would write, and the connection kept or closed as asked.

    The head is the status, Date, Content-Length, and HTTP/1.0's Connection header.
    """
    headers = {"Connection": connection} if connection else {}
    stream = RawStream(live_server.url + "/socket.io/1/", headers=headers, version=version)
    body = stream.read_body()
    assert stream.status_line == "HTTP/1.1 200 OK"
    assert int(stream.headers["content-length"]) == len(body)
    date = stream.headers["date"]
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", date)
    assert stream.headers.get("connection") == expected
    assert body.split(b":")[1:3] == [b"60", b"60"]
    assert stream.server_closed(0.5) is closes


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/0.8", "HTTP/1.x", "HTTX/1.1"])
def test_a_request_of_another_http_version_is_refused(live_server, version):
    stream = RawStream(live_server.url + "/socket.io/1/", version=version)
    assert stream.status == 400
    assert stream.server_closed(2)
