"""Security by default, against live servers and in a real browser.

- Session ids: at least 128 random bits, never reused.
- ``origins``: enforced on the handshake (``403 handshake bad origin``, or the
  JSONP error form), on every polling request, on the forced-disconnect URL and
  on the websocket upgrade (cross-site WebSocket hijacking, shown in Chromium);
  CORS headers echo only allowed origins. As in the 0.9 reference, a request
  without ``Origin`` is judged by its ``Referer`` (a cross-site ``<script src>``,
  which JSONP polling is, sends only that), and one with neither is refused.
- ``authorization``: a hook on the handshake that receives the environ; a
  refusal is ``403 handshake unauthorized`` (or ``io.j[n](new Error(...))``),
  and the real 0.9.16 client sees the error.
- JSONP and htmlfile output that no payload can break out of: evaluated by
  Chromium as a ``<script>`` and as a forever-loading iframe, with hostile
  payloads; ``window.pwned`` stays undefined and every payload arrives intact.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import websocket

from tests.client09.handshake import handshake
from tests.client09.polling import PollingClient
from tests.client09.websocket import open_websocket

from .conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer
from .node_client import NodeClient
from .observe import hooks

ALLOWED = "http://app.example.com:8080"
ALSO_ALLOWED = "https://secure.example.com"
REFUSED = [
    "http://evil.example.com:8080",
    "http://app.example.com:9999",
    "http://app.example.com.evil.net:8080",
    "http://secure.example.com",  # the allowed one is https only
    "null",
    "not a url",
]


# -- session ids -----------------------------------------------------------------------


def test_session_ids_are_random_128_bits_and_never_reused(make_server):
    server = make_server(close_timeout=1)
    http = requests.Session()

    def many(n: int) -> list[str]:
        return [
            http.get(server.url + "/socket.io/1/", timeout=5).text.split(":")[0] for _ in range(n)
        ]

    sids = many(1000)
    server.restart()  # a new process must not repeat them either
    http = requests.Session()
    sids += many(200)
    assert len(set(sids)) == len(sids)
    for sid in sids:
        assert re.fullmatch(r"[0-9a-f]{32,}", sid), sid
    # The first 32 hex digits are the random part: every digit value about as
    # common as the others (a counter or a timestamp would fail this), and
    # no two ids share a 10-digit prefix.
    digits = collections.Counter("".join(sid[:32] for sid in sids))
    expected = len(sids) * 32 / 16
    chi2 = sum((digits[d] - expected) ** 2 / expected for d in "0123456789abcdef")
    assert chi2 < 50, digits  # 15 degrees of freedom: p < 1e-5 if biased
    assert len({sid[:10] for sid in sids}) == len(sids)


# -- origins ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded():
    server = LiveServer(
        origins=f"app.example.com:8080 {ALSO_ALLOWED}", close_timeout=5, polling_duration=0.3
    ).start()
    yield server
    server.stop()


def guarded_handshake(server: LiveServer, origin: str = ALLOWED) -> str:
    """A handshake from an allowed page (restricted origins refuse one that tells none)."""
    resp = requests.get(server.url + "/socket.io/1/", headers={"Origin": origin}, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.text.split(":")[0]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": ALLOWED},
        {"Origin": ALSO_ALLOWED},
        {"Origin": ALLOWED, "Referer": "http://evil.example.com:8080/"},  # Origin wins
        {"Referer": ALLOWED + "/page.html?x=1"},  # a same-site <script src> or GET
        {"Referer": ALSO_ALLOWED + "/"},
    ],
)
def test_allowed_origins_handshake_with_cors_echoing_them(guarded, headers):
    resp = requests.get(guarded.url + "/socket.io/1/", headers=headers, timeout=5)
    assert resp.status_code == 200
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    sid = resp.text.split(":")[0]
    assert sid in guarded.sockets()
    if "Origin" in headers:
        assert resp.headers["Access-Control-Allow-Origin"] == headers["Origin"]
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    else:  # no Origin: nothing to echo
        assert "Access-Control-Allow-Origin" not in resp.headers


REFUSED_HEADERS = [
    *({"Origin": origin} for origin in REFUSED),
    {},  # neither Origin nor Referer (a non-browser client must send its Origin)
    {"Referer": "http://evil.example.com:8080/page.html"},  # a cross-site <script src>
    {"Referer": "http://evil.example.com/" + ALLOWED},
    {"Referer": "not a url"},
    {"Origin": "", "Referer": ""},
    {"Origin": "null", "Referer": ALLOWED + "/"},  # a present Origin is the one judged
]


@pytest.mark.parametrize("headers", REFUSED_HEADERS)
def test_refused_origins_get_403_and_no_cors(guarded, headers):
    before = set(guarded.sockets())
    resp = requests.get(guarded.url + "/socket.io/1/", headers=headers, timeout=5)
    assert resp.status_code == 403
    assert resp.text == "handshake bad origin"
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert set(guarded.sockets()) <= before  # no session was created
    jsonp = requests.get(
        guarded.url + "/socket.io/1/", params={"jsonp": "5"}, headers=headers, timeout=5
    )
    assert jsonp.status_code == 200
    assert jsonp.text == 'io.j[5](new Error("handshake bad origin"));'
    assert "Access-Control-Allow-Origin" not in jsonp.headers


@pytest.mark.parametrize("transport", ["xhr-polling", "jsonp-polling"])
def test_polling_requests_check_the_origin_every_time(guarded, transport):
    session = PollingClient(guarded.url, transport, sid=guarded_handshake(guarded))
    assert session.get(Origin=ALLOWED) == "1::"
    evil = {"Origin": REFUSED[0]}
    for resp in (
        session.http.get(session.url, headers=evil, timeout=5),
        session.http.post(session.url, data=b"1::/life", headers=evil, timeout=5),
        session.http.options(session.url, headers=evil, timeout=5),
        session.http.get(
            f"{guarded.url}/socket.io/1//{session.sid}/?disconnect=1", headers=evil, timeout=5
        ),
    ):
        assert resp.status_code == 403, resp.request.method
        assert "Access-Control-Allow-Origin" not in resp.headers
    # A cross-site page's <script src> or form sends no Origin, only its Referer.
    cross_site = {"Referer": "http://evil.example.com:8080/page.html"}
    for resp in (
        session.http.get(session.url, headers=cross_site, timeout=5),
        session.http.post(session.url, data=b"1::/life", headers=cross_site, timeout=5),
        requests.get(session.url, timeout=5),  # neither header
    ):
        assert resp.status_code == 403, resp.request.method
        assert "Access-Control-Allow-Origin" not in resp.headers
    # Nothing reached the session, which is intact for its own origin.
    assert session.sid in guarded.sockets()
    assert hooks(guarded, session.sid) == []
    resp = session.post("2::", Origin=ALLOWED)
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert session.get(Origin=ALLOWED) == "8::"
    # The page's own <script src> polls with its Referer.
    assert session.get(Referer=ALLOWED + "/page.html") == "8::"


def test_websocket_upgrade_checks_the_origin(guarded):
    sid = guarded_handshake(guarded)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_websocket(guarded.url, sid, origin=REFUSED[0])
    assert refused.value.status_code == 403
    assert sid in guarded.sockets()  # not opened, not consumed
    assert hooks(guarded, sid) == []
    ws = open_websocket(guarded.url, sid, origin=ALLOWED)
    assert ws.recv() == "1::"
    ws.close()


# -- the authorization hook ------------------------------------------------------------


@pytest.fixture(scope="module")
def authorized():
    server = LiveServer(authorization_token="s3cret", close_timeout=5).start()
    yield server
    server.stop()


def test_authorization_hook_refuses_with_403(authorized):
    url = authorized.url + "/socket.io/1/"
    for params in ({}, {"token": "wrong"}, {"token": "s3cret ", "x": "1"}):
        resp = requests.get(url, params=params, timeout=5)
        assert resp.status_code == 403, params
        assert resp.text == "handshake unauthorized"
    resp = requests.get(url, params={"token": "s3cret"}, headers={"Origin": ALLOWED}, timeout=5)
    assert resp.status_code == 200
    sid = resp.text.split(":")[0]
    # The hook saw the request's environ.
    method, path, query, origin = authorized.get_json("/_auth")[-1]
    assert (method, path, origin) == ("GET", "/socket.io/1/", ALLOWED)
    assert "token=s3cret" in query
    # It guards the handshake only: the session id is the credential afterwards.
    seen = len(authorized.get_json("/_auth"))
    session = PollingClient(authorized.url, sid=sid)
    assert session.get() == "1::"
    assert len(authorized.get_json("/_auth")) == seen


def test_authorization_refusal_in_jsonp_form_is_an_error_for_the_callback(authorized):
    resp = requests.get(authorized.url + "/socket.io/1/", params={"jsonp": "4"}, timeout=5)
    assert resp.status_code == 200
    assert resp.text == 'io.j[4](new Error("handshake unauthorized"));'
    # What the page's callback receives when that is evaluated as a script.
    script = (
        "const got = [];"
        "globalThis.io = {j: [0, 1, 2, 3, (x) => got.push(x)]};"
        f"{resp.text}"
        "console.log(JSON.stringify([got.length, got[0] instanceof Error, got[0].message]));"
    )
    out = subprocess.run(
        [shutil.which("node") or "node", "-e", script], capture_output=True, text=True, timeout=10
    )
    assert json.loads(out.stdout) == [1, True, "handshake unauthorized"], out.stderr


@pytest.mark.node
def test_real_client_with_and_without_the_token(authorized):
    client = NodeClient(authorized.url)
    try:
        sid = client.connect("ok", "/life", "websocket", query="token=s3cret")
        assert client.emit("ok", "echo", "in", ack=True) == ["in"]
        assert sid in authorized.sockets()
        client.call("connect", label="no", ns="/life", transport="websocket", noWait=True)
        assert client.wait("socket:no", "error") == ["handshake unauthorized"]
        assert client.call("state", label="no")["connected"] is False
    finally:
        client.close()


# -- in a real browser -----------------------------------------------------------------

BROWSER_ARGS = [
    *CHROMIUM_ARGS,
    # two site names for 127.0.0.1, so pages can come from two origins
    "--host-resolver-rules=MAP app.example.com 127.0.0.1, MAP evil.example.com 127.0.0.1",
]


class BrowserThread:
    """Headless Chromium driven from a thread of its own.

    Playwright's sync API belongs to the thread that started it; other modules
    may run theirs in the main thread, so this one lives apart. ``submit(fn)``
    runs ``fn(browser)`` there and returns a future.
    """

    def __init__(self) -> None:
        self.jobs: queue.Queue = queue.Queue()
        self.ready: concurrent.futures.Future = concurrent.futures.Future()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.result(60)

    def _run(self) -> None:
        try:
            from playwright.sync_api import sync_playwright

            manager = sync_playwright().start()
            executable = CHROMIUM
            browser = manager.chromium.launch(
                executable_path=executable, args=BROWSER_ARGS, headless=True
            )
        except Exception as exc:
            self.ready.set_exception(exc)
            return
        self.ready.set_result(True)
        while True:
            fn, future = self.jobs.get()
            if fn is None:
                break
            try:
                future.set_result(fn(browser))
            except BaseException as exc:
                future.set_exception(exc)
        browser.close()
        manager.stop()

    def submit(self, fn: Callable[[Any], Any]) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.jobs.put((fn, future))
        return future

    def close(self) -> None:
        self.jobs.put((None, None))
        self.thread.join(10)


@pytest.fixture(scope="module")
def chromium():
    try:
        browser = BrowserThread()
    except Exception as exc:
        pytest.fail(f"cannot launch Chromium: {exc}", pytrace=False)
    yield browser
    browser.close()


def in_page(url: str, script: str, arg: Any = None) -> Callable[[Any], dict]:
    """A job for :class:`BrowserThread`: open ``url``, evaluate ``script(arg)``, report."""

    def job(browser: Any) -> dict:
        context = browser.new_context()
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url, wait_until="load")
            result = page.evaluate(script, arg)
            pwned = page.evaluate(
                "() => [window.pwned, ...[...document.querySelectorAll('iframe')]"
                ".map((f) => f.contentWindow.pwned)]"
            )
            return {"result": result, "errors": errors, "pwned": pwned}
        finally:
            context.close()

    return job


@pytest.mark.browser
def test_cross_site_websocket_hijacking_is_refused_in_the_browser(chromium, make_server):
    victim = LiveServer(close_timeout=5)
    victim.options["origins"] = f"app.example.com:{victim.port}"
    victim.start()
    offset = len(victim.log())
    attacker = make_server()  # serves the attacker's page
    try:
        open_ws = """async (url) => await new Promise((resolve) => {
              const ws = new WebSocket(url);
              const seen = [];
              ws.onopen = () => seen.push('open');
              ws.onmessage = (m) => seen.push('message ' + m.data);
              ws.onerror = () => seen.push('error');
              ws.onclose = (e) => resolve([...seen, 'close ' + e.code]);
              setTimeout(() => { ws.close(); }, 1500);
            })"""
        sid = guarded_handshake(victim, f"http://app.example.com:{victim.port}")
        target = f"ws://app.example.com:{victim.port}/socket.io/1/websocket/{sid}"
        evil = chromium.submit(
            in_page(f"http://evil.example.com:{attacker.port}/page.html", open_ws, target)
        ).result(30)
        assert evil["result"] == ["error", "close 1006"]  # the upgrade was refused
        assert sid in victim.sockets()
        assert hooks(victim, sid) == []
        # The same page from the allowed origin gets through.
        own = chromium.submit(
            in_page(f"http://app.example.com:{victim.port}/page.html", open_ws, target)
        ).result(30)
        assert own["result"][:2] == ["open", "message 1::"]
        # The 0.9.16 client in the evil page cannot even handshake with the victim.
        connect = """async (url) => await new Promise((resolve) => {
              const s = io.connect(url, {transports: ['xhr-polling'], 'force new connection': true,
                                         reconnect: false, 'connect timeout': 2000});
              s.socket.on('error', (e) => resolve('error ' + e));
              s.on('connect', () => resolve('connected'));
              setTimeout(() => resolve('nothing'), 3000);
            })"""
        victim_url = f"http://app.example.com:{victim.port}"
        refused = chromium.submit(
            in_page(f"http://evil.example.com:{attacker.port}/page.html", connect, victim_url)
        ).result(30)
        assert refused["result"] != "connected"
        allowed = chromium.submit(in_page(victim_url + "/page.html", connect, victim_url)).result(
            30
        )
        assert allowed["result"] == "connected"
        assert (
            f"refused request from origin 'http://evil.example.com:{attacker.port}'"
            in (victim.log()[offset:])
        )
    finally:
        victim.stop()


@pytest.mark.browser
def test_cross_site_script_tag_cannot_use_jsonp_in_the_browser(chromium, make_server):
    """A <script src> on another site sends no Origin, only a Referer: refused by it."""
    victim = LiveServer(close_timeout=5)
    victim.options["origins"] = f"app.example.com:{victim.port}"
    victim.start()
    attacker = make_server()  # serves the attacker's page
    try:
        own_sid = guarded_handshake(victim, f"http://app.example.com:{victim.port}")
        # What a page gets from <script src=".../socket.io/1/?jsonp=0"> and from
        # <script src=".../jsonp-polling/<sid>?i=0">: the argument io.j[0] is called with.
        load = """async ([base, sid]) => {
              const load = (src) => new Promise((resolve) => {
                window.io = {j: [(x) => resolve(x instanceof Error ? 'Error: ' + x.message : x)]};
                const s = document.createElement('script');
                s.src = src;
                s.onerror = () => resolve('script failed');
                document.body.appendChild(s);
              });
              return [await load(base + '/socket.io/1/?jsonp=0&t=1'),
                      await load(base + '/socket.io/1/jsonp-polling/' + sid + '?t=1&i=0')];
            }"""
        target = f"http://app.example.com:{victim.port}"
        evil = chromium.submit(
            in_page(f"http://evil.example.com:{attacker.port}/page.html", load, [target, own_sid])
        ).result(30)
        assert evil["result"] == ["Error: handshake bad origin", "script failed"]  # 403
        assert hooks(victim, own_sid) == []
        own = chromium.submit(in_page(target + "/page.html", load, [target, own_sid])).result(30)
        handshake_text, first_poll = own["result"]
        assert re.fullmatch(r"[0-9a-f]{32}:60:5:[a-z,-]+", handshake_text), handshake_text
        assert first_poll == "1::"
    finally:
        victim.stop()


HOSTILE = [
    "</script><script>window.pwned=1</script>",
    "</SCRIPT ><script>window.pwned=2</script>",
    "<!--",
    "<!-- <script>",
    "<script>window.pwned=3</script>",
    '"); window.pwned=4; //',
    "'); window.pwned=5; //",
    '\\"); window.pwned=6; //',
    "\u2028",
    "\u2029",
    "a\u2028b\u2029c</script>",
    "<![CDATA[ ]]> &lt; &amp;",
    "\x00 \x1f \x7f",
    "\ufffd5\ufffd fake frame \ufffd",
    "emoji 😀 𝄞",
]

#: Splits a polling payload in the page, with JavaScript string lengths.
UNFRAME_JS = """(body) => {
  if (body[0] !== '\\ufffd') return [body];
  const out = [];
  let pos = 0;
  while (pos < body.length) {
    const sep = body.indexOf('\\ufffd', pos + 1);
    const n = Number(body.slice(pos + 1, sep));
    out.push(body.substr(sep + 1, n));
    pos = sep + 1 + n;
  }
  return out;
}"""


def post_hostile_packets(session: PollingClient) -> list[str]:
    """Queue every hostile payload twice for the client: raw in a message, and in an ack's JSON.

    Returns the packets the client must receive, in order.
    """
    session.post("1::/chat")
    expected = ["1::/chat"]
    for i, text in enumerate(HOSTILE, start=1):
        # /chat echoes a message as it came; /life acks its arguments
        session.post(f"3::/chat:{text}")
        session.post(f"5:{i}+:/life:" + json.dumps({"name": "echo", "args": [text]}))
        expected += [f"3::/chat:{text}", ("ack", i, [text])]
    return expected


def check_packets(received: list[str], expected: list) -> None:
    received = [p for p in received if not p.startswith("5::/chat:") and p != "1::/life"]
    assert len(received) == len(expected), received
    for got, want in zip(received, expected, strict=True):
        if isinstance(want, tuple):
            _, ident, args = want
            prefix = f"6::/life:{ident}+"
            assert got.startswith(prefix), got
            assert json.loads(got[len(prefix) :]) == args
        else:
            assert got == want


@pytest.mark.browser
def test_jsonp_polling_output_cannot_be_broken_out_of(chromium, make_server):
    server = make_server()
    session = PollingClient(server.url, "jsonp-polling")
    expected = post_hostile_packets(session)
    script = """async ([sid, unframeSource]) => {
          const unframe = eval(unframeSource);
          const got = [];
          window.io = window.io || {};
          io.j = [(payload) => got.push(payload)];
          const load = (i) => new Promise((resolve, reject) => {
            const s = document.createElement('script');
            s.src = `/socket.io/1/jsonp-polling/${sid}?t=${Date.now()}&i=0`;
            s.onload = resolve;
            s.onerror = () => reject(new Error('the script failed to load'));
            document.body.appendChild(s);
          });
          await load();
          return got.map(unframe);
        }"""
    report = chromium.submit(
        in_page(server.url + "/page.html", script, [session.sid, UNFRAME_JS])
    ).result(30)
    assert report["errors"] == []
    assert report["pwned"] == [None]
    (packets,) = report["result"]  # one callback, with the whole payload
    check_packets(packets, expected)


@pytest.mark.browser
def test_htmlfile_stream_cannot_be_broken_out_of(chromium, make_server):
    server = make_server()
    sid = handshake(server.url).sid
    script = """async ([sid, unframeSource, count]) => {
          const unframe = eval(unframeSource);
          const got = [];
          window.s = {_: (payload, doc) => got.push(...unframe(payload))};
          const frame = document.createElement('iframe');
          frame.src = `/socket.io/1/htmlfile/${sid}?t=${Date.now()}`;
          document.body.appendChild(frame);
          const deadline = Date.now() + 10000;
          while (got.filter((p) => !p.startsWith('2::')).length < count) {
            if (Date.now() > deadline) throw new Error(`got only ${JSON.stringify(got)}`);
            await new Promise((r) => setTimeout(r, 20));
          }
          return got;
        }"""
    # Everything is queued before the stream opens (its first chunk carries it all),
    # then more arrives while it is open.
    session = PollingClient(server.url, "htmlfile", sid=sid)
    expected = post_hostile_packets(session)
    count = 3 + 2 * len(HOSTILE) + 1  # 1::, 1::/chat, the welcome, two per payload, one more
    future = chromium.submit(in_page(server.url + "/page.html", script, [sid, UNFRAME_JS, count]))
    time.sleep(0.5)  # the page opens its stream (when, it does not tell)
    session.post(f"3::/chat:{HOSTILE[0]}")
    expected.append(f"3::/chat:{HOSTILE[0]}")
    report = future.result(30)
    assert report["errors"] == []
    assert report["pwned"] == [None, None]  # neither the page nor the iframe
    received = [p for p in report["result"] if p != "2::"]
    assert received[0] == "1::"
    check_packets(received[1:], expected)
