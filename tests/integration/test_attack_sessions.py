"""Attacks on origins, sessions and routing, against live servers (issue 17, items 3-6).

- Origins: with ``origins`` restricted, a request is judged by its ``Origin``,
  else (a cross-site ``<script src>``, which JSONP polling is) its
  ``Referer``, and refused with neither; a hybi-08 websocket's
  ``Sec-WebSocket-Origin`` is judged too. An ``Origin`` that is not a
  serialized origin (a CR, a path...) is never echoed: refused when origins
  are restricted, taken as absent with ``'*:*'``; never a 500 or a traceback.
  Every answer of ours says ``X-Content-Type-Options: nosniff``.
- Routing: the README's ``startswith("/socket.io")`` routing sends
  ``/socket.iox`` and ``/socket.io.js`` to ``socketio_manage``, which has no
  session for them: a clean 404, no traceback.
- Sessions: a live session keeps its connection. A second websocket, a
  websocket for a polling session, and a request of another transport are
  told ``7:::1+0`` (a 0.9 client handshakes again) and reach nothing. With
  signed ids, an ended id stays ended, and adopting a sibling's session runs
  the authorization hook on the websocket's request.
- Pending sessions: past ``max_pending_sessions`` handshaken-but-unconnected
  sessions the oldest is dropped, so a handshake flood neither grows memory
  without bound nor denies new handshakes.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import requests
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.client09.handshake import handshake
from tests.client09.polling import PollingClient
from tests.client09.waiting import wait_for
from tests.client09.websocket import WebSocketClient, open_websocket, read_to_close

from .conftest import ROOT, LiveServer, free_port
from .observe import errors_in_log, hooks, kinds, wait_gone

ALLOWED = "http://app.example.com:8080"
EVIL = "http://evil.example.com:8080"
NOT_HANDSHAKEN = "7:::1+0"


def raw_request(port: int, request: bytes, timeout: float = 5) -> tuple[int, dict, bytes]:
    """Send ``request`` as is on a new connection; return (status, headers, body) of the answer.

    Header names are lowered; a repeated header keeps its last value.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(lines[0].split()[1]), headers, body


def get(path: str, *extra: str) -> bytes:
    """A GET request head with ``extra`` header lines (raw: any bytes may be in them)."""
    lines = [f"GET {path} HTTP/1.1", "Host: x", "Connection: close", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def upgrade(path: str, *extra: str, version: str = "13") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return get(
        path,
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        f"Sec-WebSocket-Version: {version}",
        *extra,
    ).replace(b"Connection: close\r\n", b"")


def no_errors(server, offset: int) -> None:
    new = server.log()[offset:]
    assert "Traceback" not in new
    assert errors_in_log(server, offset) == []
    # (a protocol version other than 1 is answered 500, as the 0.9 reference does)
    assert [
        line for line in new.splitlines() if '" 500 ' in line and "/socket.io/2/" not in line
    ] == []


# -- origins -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded():
    server = LiveServer(origins="app.example.com:8080", close_timeout=5, polling_duration=0.3)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def open_server():
    """Default origins ('*:*')."""
    server = LiveServer(close_timeout=5, polling_duration=0.3).start()
    yield server
    server.stop()


def test_cross_site_script_tag_cannot_handshake_or_poll_over_jsonp(guarded):
    """What <script src="http://victim/socket.io/1/?jsonp=0"> on evil.com sends: a Referer only."""
    offset = len(guarded.log())
    before = set(guarded.sockets())
    evil_page = {"Referer": EVIL + "/steal.html"}
    resp = requests.get(
        guarded.url + "/socket.io/1/", params={"jsonp": "0"}, headers=evil_page, timeout=5
    )
    assert resp.text == 'io.j[0](new Error("handshake bad origin"));'
    assert set(guarded.sockets()) <= before
    # A victim's session, its id leaked: the script tag cannot read its packets either.
    sid = requests.get(
        guarded.url + "/socket.io/1/", headers={"Referer": ALLOWED + "/"}, timeout=5
    ).text.split(":")[0]
    url = f"{guarded.url}/socket.io/1/jsonp-polling/{sid}"
    for headers in (evil_page, {}):
        resp = requests.get(url, params={"t": "1", "i": "0"}, headers=headers, timeout=5)
        assert resp.status_code == 403
        assert "io.j" not in resp.text
    assert hooks(guarded, sid) == []
    # The victim's own page (same site: its Referer) is served.
    own = requests.get(url, params={"t": "1", "i": "0"}, headers={"Referer": ALLOWED + "/"})
    assert own.text == 'io.j[0]("1::");'
    assert (
        "refused request from origin '(none; Referer http://evil.example.com:8080/steal.html)'"
        in (guarded.log()[offset:])
    )
    no_errors(guarded, offset)


@pytest.mark.parametrize(
    ("origin_header", "status"),
    [
        (f"Sec-WebSocket-Origin: {EVIL}", 403),
        (f"Sec-WebSocket-Origin: {ALLOWED}", 101),
        (None, 403),  # neither header
        (f"Origin: {EVIL}", 403),
    ],
)
def test_hybi08_websocket_origin_is_checked(guarded, origin_header, status):
    sid = requests.get(
        guarded.url + "/socket.io/1/", headers={"Origin": ALLOWED}, timeout=5
    ).text.split(":")[0]
    extra = [origin_header] if origin_header else []
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=5) as conn:
        conn.sendall(upgrade(f"/socket.io/1/websocket/{sid}", *extra, version="8"))
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(4096)
        assert data.split(b" ")[1] == str(status).encode()
        if status == 101:
            rest = data.partition(b"\r\n\r\n")[2]
            while len(rest) < 5:
                rest += conn.recv(4096)
            assert rest[:5] == b"\x81\x031::"
    if status == 403:
        assert sid in guarded.sockets()  # not opened, not consumed
        assert hooks(guarded, sid) == []


HOSTILE_ORIGINS = [
    "http://app.example.com:8080\rX-Evil: 1",
    "http://app.example.com:8080\r",
    "http://app.example.com:8080/\rSet-Cookie: a=b",
    "http://app.example.com:8080\x00",
    "http://app.example.com:8080\x7f",
    "http://app.example.com:8080\x0b",
    "http://app.example.com:8080/path",
    "http://app.example.com:8080 http://evil.example.com",
    "http://app.example.com:8080\xe9",
    "\rhttp://app.example.com:8080",
    "http://app.example.com:8080" + "a" * 2000,
]


def requests_carrying(origin: str, port: int, sid: str) -> list[bytes]:
    """Every kind of request of ours, with ``origin`` as its Origin header."""
    header = f"Origin: {origin}"
    post = (
        f"POST /socket.io/1/xhr-polling/{sid} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"{header}\r\nContent-Length: 3\r\n\r\n2::"
    ).encode("latin-1")
    options = get(f"/socket.io/1/xhr-polling/{sid}", header).replace(b"GET", b"OPTIONS", 1)
    return [
        get("/socket.io/1/", header),
        get("/socket.io/1/?jsonp=3", header),
        get("/socket.io/1/?jsonp=abc", header),  # 400
        get("/socket.io/", header),  # welcome
        get("/socket.io/2/", header),  # protocol refused (500, as the 0.9 reference)
        get("/socket.io/1/xhr-polling/nosuchsession", header),  # not handshaken
        get(f"/socket.io/1/xhr-polling/{sid}?t=1", header),
        get(f"/socket.io/1/jsonp-polling/{sid}?t=1&i=0", header),
        get(f"/socket.io/1/bogus/{sid}", header),
        post,
        options,
        upgrade(f"/socket.io/1/websocket/{sid}", header),
    ]


@pytest.mark.parametrize("origin", HOSTILE_ORIGINS)
def test_origin_that_is_not_an_origin_is_never_echoed(guarded, open_server, origin):
    for server in (open_server, guarded):
        offset = len(server.log())
        sid = requests.get(
            server.url + "/socket.io/1/", headers={"Origin": ALLOWED}, timeout=5
        ).text.split(":")[0]
        for request in requests_carrying(origin, server.port, sid):
            status, headers, body = raw_request(server.port, request)
            assert status < 500 or b"/socket.io/2/" in request, (request, status, body)
            assert "access-control-allow-origin" not in headers, request
            assert "x-evil" not in headers
            assert "set-cookie" not in headers
            if server is guarded and b"/socket.io/1/" in request and b"jsonp=" not in request:
                # refused, not taken as absent (or, for a control character,
                # refused with the request head: 400)
                assert status in (400, 403), request
        no_errors(server, offset)


header_values = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=255), min_size=0, max_size=60
).map(lambda t: t.replace("\r", "").replace("\n", ""))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(["Origin", "Referer", "Sec-WebSocket-Origin"]),
    value=st.one_of(
        header_values,
        header_values.map(lambda t: "http://app.example.com:8080" + t),
        header_values.map(lambda t: "http://" + t),
    ),
)
def test_generated_origins_and_referers_never_fail(guarded, open_server, name, value):
    for server in (open_server, guarded):
        offset = len(server.log())
        for path in ("/socket.io/1/", "/socket.io/1/?jsonp=1", "/socket.io/1/xhr-polling/x"):
            status, headers, _ = raw_request(server.port, get(path, f"{name}: {value}"))
            assert status < 500, (path, status)
            echoed = headers.get("access-control-allow-origin")
            assert echoed is None or (name == "Origin" and echoed == value.strip(" \t"))
            if server is guarded and status == 200 and "jsonp" not in path:
                assert "app.example.com:8080" in value  # only the allowed site gets in
        no_errors(server, offset)


def test_a_cr_in_origin_on_the_default_server_is_not_echoed(open_server):
    """A CR in a header value: refused with the head (400), or served as if without Origin."""
    offset = len(open_server.log())
    for value in ("http://a.example\rX-Evil: 1", "http://a.example/path", "http://a b"):
        status, headers, body = raw_request(
            open_server.port, get("/socket.io/1/", f"Origin: {value}")
        )
        assert status in (200, 400), (value, status)
        if status == 200:
            assert body.decode().split(":")[1:3] == ["60", "5"]
        assert "access-control-allow-origin" not in headers
        assert "x-evil" not in headers
    no_errors(open_server, offset)


def test_every_answer_says_nosniff(open_server):
    sid = handshake(open_server.url).sid
    polling = PollingClient(open_server.url, sid=sid)
    url = open_server.url
    answers = [
        requests.get(url + "/socket.io/1/", timeout=5),
        requests.get(url + "/socket.io/1/", params={"jsonp": "1"}, timeout=5),
        requests.options(url + "/socket.io/1/", timeout=5),
        requests.get(url + "/socket.io/", timeout=5),
        requests.get(url + "/socket.io/2/", timeout=5),
        requests.get(url + "/socket.io/1/?jsonp=x", timeout=5),
        requests.get(url + f"/socket.io/1/xhr-polling/{sid}", timeout=5),  # 1::
        requests.post(url + f"/socket.io/1/xhr-polling/{sid}", data=b"2::", timeout=5),
        requests.options(url + f"/socket.io/1/xhr-polling/{sid}", timeout=5),
        requests.get(url + f"/socket.io/1/xhr-polling/{sid}", timeout=5),  # 8::
        requests.get(url + "/socket.io/1/xhr-polling/nosuch", timeout=5),
        requests.get(url + "/socket.io/1/jsonp-polling/nosuch?i=2", timeout=5),
        requests.get(url + "/socket.io/1/htmlfile/nosuch", timeout=5),
        requests.get(url + "/socket.io/1/bogus/nosuch", timeout=5),
        requests.put(url + f"/socket.io/1/xhr-polling/{sid}", timeout=5),
        requests.get(url + "/socket.io/1/websocket/nosuch", timeout=5),  # no upgrade: 400
    ]
    del polling
    for resp in answers:
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", (
            resp.request.method,
            resp.url,
            resp.status_code,
        )
    # A stream too.
    sid = handshake(open_server.url).sid
    with requests.get(url + f"/socket.io/1/htmlfile/{sid}", stream=True, timeout=5) as resp:
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


# -- routing ---------------------------------------------------------------------------

README_APP = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    import logging
    import sys

    from socketio import socketio_manage
    from socketio.namespace import BaseNamespace
    from socketio.server import SocketIOServer

    logging.basicConfig(level=logging.INFO)


    class ChatNamespace(BaseNamespace):
        def on_say(self, text):
            self.emit("said", text)
            return "ok"


    def app(environ, start_response):
        if environ["PATH_INFO"].startswith("/socket.io"):
            socketio_manage(environ, {"/chat": ChatNamespace})
            return []
        start_response("404 Not Found", [])
        return [b"not found"]


    SocketIOServer(
        ("127.0.0.1", int(sys.argv[1])), app, policy_server=False, client_js=sys.argv[2]
    ).serve_forever()
    """
)

CLIENT_JS = ROOT / "tests" / "js" / "node_modules" / "socket.io-client" / "dist" / "socket.io.js"


class ReadmeServer:
    """The README's application, as written there, in a subprocess."""

    def __init__(self, tmp_path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        script = tmp_path / "readme_app.py"
        script.write_text(README_APP)
        self.log_path = tmp_path / "readme_app.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(self.port), str(CLIENT_JS)],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        wait_for(self._up, 15, "the README app to start")

    def _up(self) -> bool:
        assert self.proc.poll() is None, self.log()
        try:
            return requests.get(self.url + "/socket.io/", timeout=1).status_code == 200
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture
def readme_server(tmp_path):
    server = ReadmeServer(tmp_path)
    yield server
    server.stop()


def test_readme_routing_answers_404_for_paths_that_are_not_sessions(readme_server):
    url = readme_server.url
    http = requests.Session()  # keep-alive: the connection goes on after a 404
    for path in (
        "/socket.iox",
        "/socket.io.js",
        "/socket.io.min.js",
        "/socket.io-x/1/",
        "/socket.ioo",
    ):
        resp = http.get(url + path, timeout=5)
        assert resp.status_code == 404, path
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        resp = http.post(url + path, data=b"x" * 100, timeout=5)
        assert resp.status_code == 404, path
    # A websocket upgrade there: the connection is closed, nothing else.
    ws = websocket.create_connection(f"ws://127.0.0.1:{readme_server.port}/socket.iox", timeout=5)
    assert read_to_close(ws)[0] == []
    ws.close()
    # The client script is served where the 0.9 client looks for it.
    script = http.get(url + "/socket.io/socket.io.js", timeout=5)
    assert script.status_code == 200
    assert "io.version = '0.9.16'" in script.text
    # And the Socket.IO requests the routing is for are served.
    client = WebSocketClient(url)
    client.send("1::/chat")
    assert client.recv() == "1::/chat"
    assert client.call("/chat", "say", "hi") == ["ok"]
    client.close()
    log = readme_server.log()
    assert "Traceback" not in log
    assert "KeyError" not in log
    assert " 500 " not in log
    assert "no Socket.IO session for /socket.iox: answered 404" in log


# -- sessions: a live session keeps its connection -------------------------------------


def test_second_websocket_cannot_take_a_live_session(open_server):
    offset = len(open_server.log())
    first = WebSocketClient(open_server.url)
    first.send("1::/life")
    assert first.recv() == "1::/life"
    for attempt in range(3):
        second = open_websocket(open_server.url, first.sid)
        packets, _ = read_to_close(second)
        assert packets == [NOT_HANDSHAKEN], attempt
        second.close()
    # The first connection still has the session, both ways.
    assert first.call("/life", "echo", "still mine", msgid=7) == ["still mine"]
    assert kinds(open_server, first.sid).count("recv_connect") == 1
    assert first.sid in open_server.sockets()
    first.close()
    wait_gone(open_server, first.sid)
    no_errors(open_server, offset)


def test_polling_cannot_read_or_write_a_websocket_session(open_server):
    first = WebSocketClient(open_server.url)
    first.send("1::/life")
    assert first.recv() == "1::/life"
    event = '5:9+:/life:{"name":"echo","args":["injected"]}'
    for transport in ("xhr-polling", "jsonp-polling", "htmlfile", "xhr-multipart"):
        url = f"{open_server.url}/socket.io/1/{transport}/{first.sid}"
        if transport == "jsonp-polling":
            post = requests.post(url, data={"d": json.dumps(event)}, timeout=5)
        else:
            post = requests.post(url, data=event.encode(), timeout=5)
        assert NOT_HANDSHAKEN in post.text, transport
        with requests.get(url, params={"t": "1"}, timeout=5, stream=True) as got:
            body = next(got.iter_content(4096)).decode()
            assert NOT_HANDSHAKEN in body, transport
    # Nothing reached the session: the next packet the first client gets is its own ack.
    assert first.call("/life", "echo", "mine", msgid=1) == ["mine"]
    first.close()


@pytest.mark.parametrize("intruder", ["websocket", "jsonp-polling", "htmlfile"])
def test_a_polling_session_keeps_its_transport(open_server, intruder):
    session = PollingClient(open_server.url)
    assert session.post("1::/life").text == "1"
    if intruder == "websocket":
        ws = open_websocket(open_server.url, session.sid)
        assert read_to_close(ws)[0] == [NOT_HANDSHAKEN]
        ws.close()
    else:
        url = f"{open_server.url}/socket.io/1/{intruder}/{session.sid}"
        with requests.get(url, params={"t": "1", "i": "0"}, timeout=5, stream=True) as got:
            assert NOT_HANDSHAKEN in next(got.iter_content(4096)).decode()
    # The session goes on, over its own transport only.
    assert session.get() == "1::/life"
    assert session.post('5:3+:/life:{"name":"echo","args":["ok"]}').text == "1"
    assert session.get() == '6::/life:3+["ok"]'
    assert kinds(open_server, session.sid).count("recv_connect") == 1


# -- sessions: signed ids ---------------------------------------------------------------

SECRET = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def siblings():
    """Two processes sharing a session secret, as gunicorn's workers; handshakes need a token."""
    config = json.dumps({"session_secret": SECRET})
    servers = [
        LiveServer(authorization_token="s3cret", close_timeout=30, config=config).start()
        for _ in range(2)
    ]
    yield servers
    for server in servers:
        server.stop()


def test_an_ended_signed_id_stays_ended(siblings):
    server, _ = siblings
    offset = len(server.log())
    client = WebSocketClient(server.url, token="s3cret")
    assert client.call("", "echo", "hi") == ["hi"]
    client.close()
    wait_gone(server, client.sid)
    # Within close_timeout its signature is still fresh: it must not come back.
    for query in ("", "?token=s3cret"):
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{server.port}/socket.io/1/websocket/{client.sid}{query}",
            timeout=5,
            suppress_origin=True,
        )
        assert read_to_close(ws)[0] == [NOT_HANDSHAKEN]
        ws.close()
    assert client.sid not in server.sockets()
    assert kinds(server, client.sid).count("recv_connect") == 0  # (the global namespace)
    no_errors(server, offset)


def test_adoption_runs_the_authorization_hook(siblings):
    first, second = siblings
    sid = handshake(first.url, token="s3cret").sid
    base = f"ws://127.0.0.1:{second.port}/socket.io/1/websocket/{sid}"
    # The websocket reaches the sibling without the token: not adopted.
    for query in ("", "?token=wrong"):
        ws = websocket.create_connection(base + query, timeout=5, suppress_origin=True)
        assert read_to_close(ws)[0] == [NOT_HANDSHAKEN]
        ws.close()
    assert sid not in second.sockets()
    # With it (the 0.9 client sends its query on every transport URL): adopted.
    ws = websocket.create_connection(base + "?token=s3cret", timeout=5, suppress_origin=True)
    assert ws.recv() == "1::"
    assert sid in second.sockets()
    _, _, query, _ = second.get_json("/_auth")[-1]
    assert query == "token=s3cret"
    # ... once: a second websocket is refused, and after the end the id stays ended.
    again = websocket.create_connection(base + "?token=s3cret", timeout=5, suppress_origin=True)
    assert read_to_close(again)[0] == [NOT_HANDSHAKEN]
    again.close()
    ws.close()
    wait_gone(second, sid)
    again = websocket.create_connection(base + "?token=s3cret", timeout=5, suppress_origin=True)
    assert read_to_close(again)[0] == [NOT_HANDSHAKEN]
    again.close()


# -- pending sessions ----------------------------------------------------------------------

MAX_PENDING = 50


@pytest.fixture(scope="module")
def capped():
    server = LiveServer(config=json.dumps({"max_pending_sessions": MAX_PENDING})).start()
    yield server
    server.stop()


def test_handshake_flood_keeps_at_most_max_pending_sessions(capped):
    offset = len(capped.log())
    good = WebSocketClient(capped.url)  # connected: not pending, never dropped
    http = requests.Session()
    flood = [
        http.get(capped.url + "/socket.io/1/", timeout=5).text.split(":")[0] for _ in range(1000)
    ]
    live = set(capped.sockets())
    assert len(live) <= MAX_PENDING + 1
    assert good.sid in live
    assert set(flood[-MAX_PENDING:]) <= live  # the newest are kept
    # New handshakes are still served, and connect.
    late = WebSocketClient(capped.url)
    assert late.call("", "echo", "on time") == ["on time"]
    assert good.call("", "echo", "still here") == ["still here"]
    # One the flood pushed out is told to handshake again.
    ws = open_websocket(capped.url, flood[0])
    assert read_to_close(ws)[0] == [NOT_HANDSHAKEN]
    ws.close()
    session = PollingClient(capped.url, sid=flood[-1])
    assert session.get() == "1::"
    lines = [line for line in capped.log()[offset:].splitlines() if "handshaken and not" in line]
    assert 1 <= len(lines) <= 2  # rate limited, not one per handshake
    no_errors(capped, offset)
    good.close()
    late.close()
