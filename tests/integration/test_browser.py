"""The real socket.io-client 0.9.16 browser build, in headless Chromium, against our server.

Every test loads ``/page.html`` (which loads ``/socket.io.js``, the 0.9.16
``dist`` build) from the test server and scripts the client with
``page.evaluate``: async JavaScript whose promises resolve to what the page
observed, or reject with a clear message after a JS-side timeout. Each
scenario runs once per transport, forced with
``io.connect(url, {transports: [t], 'force new connection': true})``.

What the server ran is read from the test application (``/_events``: the
namespace hooks, ``/_sockets``: the live sessions). A page must raise no
uncaught JavaScript error: JSONP responses are evaluated as ``<script>`` and
a badly escaped payload would show up here first.

Chromium comes from the system (``/usr/bin/chromium``); if it cannot be
launched, the tests fail (they never skip).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any, Optional

import pytest

from tests.client09.waiting import wait_for

from .conftest import CHROMIUM, CHROMIUM_ARGS, ROOT

pytestmark = pytest.mark.browser

TRANSPORTS = ["websocket", "xhr-polling", "jsonp-polling"]


#: Strings that are hard to carry: through JSON, through the ``\ufffd`` framing
#: of the polling payloads, through a JSONP ``<script>`` and a form POST.
TRICKY = [
    "emoji 😀🎉 𝄞 and a flag 🇫🇷",
    "replacement \ufffd char \ufffd\ufffd, a fake frame \ufffd5\ufffd3:::x and one at the end \ufffd",
    "\ufffd",
    "😀",
    "quotes \" and ' and `backticks` ${x} 😀",
    "backslashes \\ \\\\ \\n \\u2028 \\x41 \\' end\\",
    "newlines \n and \r\n and \r and a tab \t",
    "line separators \u2028 and paragraph separators \u2029 inside",
    "</script><script>throw new Error('injected by a payload')</script>",
    "<!-- <script> --> </SCRIPT > <![CDATA[ ]]> & &amp;",
    "'); throw new Error('injected'); //",
    '"); throw new Error("injected"); //',
    "ünïcödé 中文 Ω \u00a0 \ufeff \u200b",
    "colons : and pluses + like 6:::1+[] and 5:1+::{}",
    "",
]

#: Helpers installed in every page as ``window.T``.
HELPERS = r"""
window.T = (() => {
  // What happened to a socket, for failure messages: T.log holds [ms, event, args].
  const log = [];
  const start = Date.now();
  const watch = (socket, events) => events.forEach((e) => socket.on(e, (...args) => log.push(
    [Date.now() - start, e, ...args.filter((a) => typeof a !== 'function')])));
  const within = (ms, what, promise) => new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (error) => { clearTimeout(timer); reject(error); });
  });

  // io.connect with the transport forced and a fresh io.Socket.
  const connect = (path, transport, extra) => {
    const ns = io.connect(location.origin + path, Object.assign({
      transports: [transport],
      'force new connection': true,
      'connect timeout': 5000,
      'reconnect': false,
    }, extra || {}));
    ns.socket.forcedTransport = transport;
    watch(ns.socket, ['connecting', 'connect', 'connect_failed', 'disconnect', 'error',
                      'reconnecting', 'reconnect', 'reconnect_failed']);
    return ns;
  };

  // The arguments of the next `event` on `emitter`.
  const once = (emitter, event, ms = 5000) => within(
    ms, `event '${event}' on '${emitter.name === undefined ? 'socket' : emitter.name}'`,
    new Promise((resolve) => emitter.once(event, (...args) => resolve(args))));

  // Resolves when namespace `ns` is connected; rejects on error or refusal.
  const opened = (ns, ms = 5000) => within(ms, `namespace '${ns.name}' to connect`,
    new Promise((resolve, reject) => {
      ns.once('connect', () => {
        const used = ns.socket.transport && ns.socket.transport.name;
        if (used === ns.socket.forcedTransport) resolve(ns);
        else reject(new Error(`'${ns.name}' connected over ${used}, not ${ns.socket.forcedTransport}`));
      });
      ns.once('connect_failed', (reason) => reject(new Error(`'${ns.name}' connect_failed: ${reason}`)));
      ns.once('error', (...args) => reject(new Error(`'${ns.name}' error: ${JSON.stringify(args)}`)));
      ns.socket.once('connect_failed', () => reject(new Error('socket connect_failed')));
    }));

  // Emits `name` with `args` and a callback; resolves to the ack's arguments.
  const ack = (ns, name, args, ms = 5000) => within(ms, `the ack of '${name}' on '${ns.name}'`,
    new Promise((resolve) => ns.emit(name, ...args, (...result) => resolve(result))));

  // Collects the first `count` events `event` (their first argument).
  const collect = (ns, event, count, ms = 5000) => {
    const seen = [];
    return within(ms, `${count} '${event}' events on '${ns.name}' (got ${seen.length})`,
      new Promise((resolve) => {
        const listener = (value) => {
          seen.push(value);
          if (seen.length === count) {
            ns.removeListener(event, listener);
            resolve(seen);
          }
        };
        ns.on(event, listener);
      }));
  };

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  return { within, connect, once, opened, ack, collect, sleep, log, watch };
})();
"""


def client_payloads(client: Page, transport: str) -> list[str]:
    """What the page sent to the server, checking it used ``transport`` the way 0.9.16 does.

    websocket: one text frame per packet. xhr-polling: XHR GETs and ``text/plain``
    XHR POSTs. jsonp-polling: ``<script>`` GETs with ``i=<index>`` and form POSTs
    (submitted into an iframe) whose field ``d`` is the payload as a JSON string.
    """
    used = {
        match.group(1)
        for r in client.requests
        if (match := re.search(r"/socket\.io/1/([a-z-]+)/", r["url"])) is not None
    }
    mine = [r for r in client.requests if f"/socket.io/1/{transport}/" in r["url"]]
    if transport == "websocket":
        assert used <= {"websocket"}, used
        assert client.websockets, "no websocket was opened"
        assert all("/socket.io/1/websocket/" in url for url in client.websockets)
        return list(client.frames_sent)
    assert used == {transport}, used
    assert not client.websockets
    gets = [r for r in mine if r["method"] == "GET"]
    posts = [r for r in mine if r["method"] == "POST"]
    assert gets, "no polling GET"
    if transport == "xhr-polling":
        assert {r["type"] for r in mine} == {"xhr"}
        assert {r["content_type"] for r in posts} <= {"text/plain;charset=UTF-8"}
        return [r["body"] for r in posts]
    assert {r["type"] for r in gets} == {"script"}
    assert all(re.search(r"[?&]i=[0-9]+(&|$)", r["url"]) for r in gets)
    assert {r["type"] for r in posts} <= {"document"}  # a form submitted into an iframe
    assert {r["content_type"] for r in posts} <= {"application/x-www-form-urlencoded"}
    payloads = []
    for r in posts:
        fields = urllib.parse.parse_qs(r["body"], keep_blank_values=True)
        assert list(fields) == ["d"], fields
        payloads.append(json.loads(fields["d"][0]))
    return payloads


def hooks(server, sessid: str) -> list[tuple[str, str]]:
    """The ``(hook, namespace)`` pairs that ran for session ``sessid``."""
    return [(kind, ns) for kind, ns, sid, _ in server.events() if sid == sessid]


# -- fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"playwright is not installed: {exc}", pytrace=False)
    executable = CHROMIUM
    manager = sync_playwright().start()
    try:
        chromium = manager.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
    except Exception as exc:
        manager.stop()
        pytest.fail(f"cannot launch Chromium ({executable}): {exc}", pytrace=False)
    yield chromium
    chromium.close()
    manager.stop()


class Page:
    """A browser page on a test server, with the client loaded and ``window.T`` installed."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.page = context.new_page()
        self.errors: list[str] = []
        self.console: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        #: Socket.IO HTTP requests: dicts of method, type (resource type), url, body, content_type
        self.requests: list[dict[str, Any]] = []
        #: websocket URLs opened and the text frames the page sent on them
        self.websockets: list[str] = []
        self.frames_sent: list[str] = []
        self.page.on("request", self._on_request)
        self.page.on("websocket", self._on_websocket)
        self.server: Any = None

    def _on_request(self, request: Any) -> None:
        if "/socket.io/" in request.url:
            self.requests.append(
                {
                    "method": request.method,
                    "type": request.resource_type,
                    "url": request.url,
                    "body": request.post_data if request.method == "POST" else None,
                    "content_type": request.headers.get("content-type"),
                }
            )

    def _on_websocket(self, websocket: Any) -> None:
        self.websockets.append(websocket.url)
        websocket.on("framesent", lambda payload: self.frames_sent.append(payload))

    def open(self, server: Any) -> Page:
        self.server = server
        self.page.goto(server.url + "/page.html", wait_until="load")
        self.page.evaluate(HELPERS)
        assert self.page.evaluate("typeof io.connect") == "function"
        assert self.page.evaluate("io.version") == "0.9.16"
        return self

    def run(self, script: str, arg: Any = None) -> Any:
        """Evaluate ``script`` (a JS function, maybe async) with ``arg``; fail clearly."""
        from playwright.sync_api import Error

        try:
            return self.page.evaluate(script, arg)
        except Error as exc:
            console = "\n".join(self.console[-20:]) or "(nothing)"
            try:
                trace = self.page.evaluate("JSON.stringify(T.log.slice(-40))")
            except Error:
                trace = "(unavailable)"
            server_log = self.server.log()[-3000:] if self.server else ""
            pytest.fail(
                f"in the page: {exc.message}\n"
                f"page errors: {self.errors}\nsocket events (T.log): {trace}\nconsole:\n{console}\n"
                f"server log (tail):\n{server_log}",
                pytrace=False,
            )

    def assert_no_page_errors(self) -> None:
        assert not self.errors, f"uncaught JavaScript errors in the page: {self.errors}"


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    """A fresh browser context and page; the test must leave no uncaught JS error."""
    context = browser.new_context()
    wrapper = Page(context)
    yield wrapper
    errors = list(wrapper.errors)
    context.close()
    if errors:
        pytest.fail(f"uncaught JavaScript errors in the page: {errors}", pytrace=False)


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def client(page: Page, live_server: Any) -> Page:
    return page.open(live_server)


# -- connection ----------------------------------------------------------------------


def test_connect_global_and_chat(client: Page, live_server: Any, transport: str) -> None:
    result = client.run(
        """async (t) => {
          const main = T.connect('', t);
          await T.opened(main);
          const whoami = await T.ack(main, 'whoami', []);
          const echo = await T.ack(main, 'echo', ['global', 1]);

          const chat = T.connect('/chat', t);
          const welcome = T.once(chat, 'welcome');
          await T.opened(chat);
          return {
            mainSid: main.socket.sessionid, mainTransport: main.socket.transport.name,
            whoami, echo,
            chatSid: chat.socket.sessionid, chatTransport: chat.socket.transport.name,
            welcome: await welcome,
          };
        }""",
        transport,
    )
    assert result["mainTransport"] == transport
    assert result["chatTransport"] == transport
    assert result["whoami"] == [result["mainSid"]]
    assert result["echo"] == ["global", 1]
    assert result["welcome"] == ["/chat"]
    assert result["mainSid"] != result["chatSid"]
    assert len(result["chatSid"]) == 32  # secrets.token_hex(16)

    sockets = live_server.sockets()
    assert result["mainSid"] in sockets
    assert result["chatSid"] in sockets
    # The client sends no connect packet for the global namespace.
    assert hooks(live_server, result["mainSid"]) == [("initialize", "")]
    assert hooks(live_server, result["chatSid"]) == [
        ("initialize", "/chat"),
        ("recv_connect", "/chat"),
    ]
    client_payloads(client, transport)
    client.assert_no_page_errors()


def test_page_errors_are_seen(client: Page) -> None:
    """The no-uncaught-error checks work: an error thrown by a JSONP ``<script>`` is caught.

    A JSONP answer for an unknown session calls ``io.j[5]``, which this page
    never registered: the script throws, and the page reports it.
    """
    answer = client.run(
        """async () => {
          const text = await (await fetch('/socket.io/1/jsonp-polling/nosuchsession?t=1&i=5')).text();
          const script = document.createElement('script');
          const loaded = new Promise((resolve) => { script.onload = resolve; });
          script.src = '/socket.io/1/jsonp-polling/nosuchsession?t=2&i=5';
          document.body.appendChild(script);
          await T.within(5000, 'the script to load', loaded);
          await T.sleep(50);
          return text;
        }"""
    )
    # Expected here: take them out, or the page fixture would fail the test.
    errors, client.errors[:] = list(client.errors), []
    assert answer == 'io.j[5]("7:::1+0");'
    assert errors == ["io.j[5] is not a function"]


# -- events and acks -----------------------------------------------------------------


def test_event_acks_both_ways(client: Page, transport: str) -> None:
    result = client.run(
        """async (t) => {
          const chat = T.connect('/chat', t);
          await T.opened(chat);
          const echo = await T.ack(chat, 'echo', ['a', {b: [1, 2.5, null, true]}, 3]);
          const nothing = await T.ack(chat, 'nothing', []);
          const single = await T.ack(chat, 'echo', ['only']);

          // The server emits 'question' with a callback; our ack comes back as 'answered'.
          let questionArgs = null;
          chat.on('question', (...args) => {
            const ack = args.pop();
            questionArgs = {args, ackIsFunction: typeof ack === 'function'};
            ack('yes', args[0] + '!', {n: 42});
          });
          const answered = T.once(chat, 'answered');
          chat.emit('ask', 'why?');
          return {echo, nothing, single, answered: await answered, questionArgs};
        }""",
        transport,
    )
    assert result["echo"] == ["a", {"b": [1, 2.5, None, True]}, 3]
    assert result["nothing"] == [None]
    assert result["single"] == ["only"]
    assert result["questionArgs"] == {"args": ["why?"], "ackIsFunction": True}
    assert result["answered"] == [["yes", "why?!", {"n": 42}]]
    client.assert_no_page_errors()


def test_send_and_json_with_and_without_callback(
    client: Page, live_server: Any, transport: str
) -> None:
    result = client.run(
        """async (t) => {
          const chat = T.connect('/chat', t);
          await T.opened(chat);
          const order = [];
          chat.on('message', (data) => order.push(['message', data]));

          // Without a callback: no ack is asked for; the server echoes the data back.
          let echoed = T.collect(chat, 'message', 2);
          chat.send('plain text');
          chat.json.send({plain: ['json', 1]});
          const plain = await echoed;

          // With a callback: the id has no '+', the server must ack at once, before
          // its handler runs (so before the handler's echo).
          echoed = T.collect(chat, 'message', 2);
          const acks = await Promise.all([
            T.within(5000, 'the ack of send()', new Promise((resolve) => chat.send(
              'with callback', (...args) => { order.push(['ack', 'message']); resolve(args); }))),
            T.within(5000, 'the ack of json.send()', new Promise((resolve) => chat.json.send(
              {with: 'callback'}, (...args) => { order.push(['ack', 'json']); resolve(args); }))),
          ]);
          const withCallback = await echoed;

          // The server sends with a callback: the client acks automatically.
          const serverSends = [];
          for (const asJson of [false, true]) {
            const acked = T.once(chat, 'send_acked');
            const received = T.once(chat, 'message');
            chat.emit('send_with_callback', asJson ? {from: 'server'} : 'from server', asJson);
            serverSends.push({received: await received, acked: await acked});
          }
          return {plain, acks, withCallback, order, sessid: chat.socket.sessionid, serverSends};
        }""",
        transport,
    )
    assert result["plain"] == ["plain text", {"plain": ["json", 1]}]
    assert result["acks"] == [[], []]  # an automatic ack carries no data
    assert result["withCallback"] == ["with callback", {"with": "callback"}]
    order = [tuple(x) for x in result["order"]]
    assert order.index(("ack", "message")) < order.index(("message", "with callback"))
    assert order.index(("ack", "json")) < order.index(("message", {"with": "callback"}))
    assert result["serverSends"] == [
        {"received": ["from server"], "acked": ["from server"]},
        {"received": [{"from": "server"}], "acked": [{"from": "server"}]},
    ]
    received = [
        (kind, detail)
        for kind, ns, sid, detail in live_server.events()
        if sid == result["sessid"] and kind in ("recv_message", "recv_json")
    ]
    assert received == [
        ("recv_message", "plain text"),
        ("recv_json", {"plain": ["json", 1]}),
        ("recv_message", "with callback"),
        ("recv_json", {"with": "callback"}),
    ]
    client.assert_no_page_errors()


# -- errors --------------------------------------------------------------------------


def test_acl_denial_arrives_as_error_event(client: Page, transport: str) -> None:
    result = client.run(
        """async (t) => {
          const priv = T.connect('/private', t);
          await T.opened(priv);
          const error = T.once(priv, 'error');
          const deniedAck = await T.ack(priv, 'data', []);
          const denied = await error;
          const badLogin = await T.ack(priv, 'login', ['wrong']);
          const login = await T.ack(priv, 'login', ['secret']);
          const data = await T.ack(priv, 'data', []);
          return {denied, deniedAck, badLogin, login, data};
        }""",
        transport,
    )
    assert result["denied"] == [
        "method_access_denied",
        'You do not have access to method "on_data"',
    ]
    assert result["deniedAck"] == [None]  # the handler did not run: the ack carries null
    assert result["badLogin"] == [False]
    assert result["login"] == [True]
    assert result["data"] == ["private data"]
    client.assert_no_page_errors()


def test_unknown_namespace(client: Page, live_server: Any, transport: str) -> None:
    result = client.run(
        """async (t) => {
          const nope = T.connect('/nope', t);
          let connected = false;
          nope.on('connect', () => { connected = true; });
          const error = await T.once(nope, 'error');
          // The socket itself stays usable.
          const chat = nope.socket.of('/chat');
          await T.opened(chat);
          const echo = await T.ack(chat, 'echo', ['still here']);
          return {error, connected, echo, sessid: nope.socket.sessionid};
        }""",
        transport,
    )
    assert result["error"] == [
        "no_such_namespace",
        "The endpoint you tried to connect to doesn't exist: /nope",
    ]
    assert result["connected"] is False
    assert result["echo"] == ["still here"]
    assert ("initialize", "/nope") not in hooks(live_server, result["sessid"])
    client.assert_no_page_errors()


# -- disconnection -------------------------------------------------------------------


def test_client_disconnects(client: Page, live_server: Any, transport: str) -> None:
    result = client.run(
        """async (t) => {
          const chat = T.connect('/chat', t);
          await T.opened(chat);
          const news = chat.socket.of('/news');
          await T.opened(news);
          // Leave one namespace: the socket stays.
          news.disconnect();
          const echo = await T.ack(chat, 'echo', ['after leaving /news']);
          window.chat = chat;
          return {echo, sessid: chat.socket.sessionid};
        }""",
        transport,
    )
    sessid = result["sessid"]
    assert result["echo"] == ["after leaving /news"]
    wait_for(
        lambda: ("recv_disconnect", "/news") in hooks(live_server, sessid),
        what="recv_disconnect of /news",
    )
    assert sessid in live_server.sockets()
    assert ("recv_disconnect", "/chat") not in hooks(live_server, sessid)

    # Now the whole socket.
    closed = client.run(
        """async () => {
          // The 0.9.16 client buffers packets while one of its POSTs is in flight
          // (for jsonp-polling until the form's iframe has loaded) and disconnect()
          // drops that buffer: the '0::' would never leave the page. Wait for it.
          await T.within(5000, 'the last POST to complete', new Promise((resolve) => {
            const check = () => (chat.socket.doBuffer ? setTimeout(check, 10) : resolve());
            check();
          }));
          const disconnected = T.once(chat, 'disconnect');
          chat.socket.disconnect();
          return {reason: await disconnected, connected: chat.socket.connected};
        }"""
    )
    assert closed == {"reason": ["booted"], "connected": False}
    wait_for(
        lambda: sessid not in live_server.sockets(), what="the session to leave server.sockets"
    )
    wait_for(
        lambda: ("recv_disconnect", "/chat") in hooks(live_server, sessid),
        what="recv_disconnect of /chat",
    )
    client.assert_no_page_errors()


def test_server_disconnects(client: Page, live_server: Any, transport: str) -> None:
    # on_kick: the server leaves '/chat'; the socket stays.
    kicked = client.run(
        """async (t) => {
          const chat = T.connect('/chat', t);
          await T.opened(chat);
          const news = chat.socket.of('/news');
          await T.opened(news);
          const left = T.once(chat, 'disconnect');
          chat.emit('kick');
          const reason = await left;
          const echo = await T.ack(news, 'echo', ['news still works']);
          return {reason, echo, connected: chat.socket.connected, sessid: chat.socket.sessionid};
        }""",
        transport,
    )
    assert kicked["echo"] == ["news still works"]
    assert kicked["connected"] is True
    assert kicked["sessid"] in live_server.sockets()

    # on_kill_socket: the server ends the whole socket; the client is booted
    # (and does not reconnect).
    killed = client.run(
        """async (t) => {
          const chat = T.connect('/chat', t, {reconnect: true, 'reconnection delay': 50});
          await T.opened(chat);
          const news = chat.socket.of('/news');
          await T.opened(news);
          let reconnecting = false;
          chat.socket.on('reconnecting', () => { reconnecting = true; });
          const disconnected = T.once(chat.socket, 'disconnect');
          chat.emit('kill_socket');
          const reason = await disconnected;
          await T.sleep(300);
          return {reason, reconnecting, connected: chat.socket.connected,
                  sessid: chat.socket.sessionid};
        }""",
        transport,
    )
    sessid = killed["sessid"]
    assert killed["reason"] == ["booted"]
    assert killed["reconnecting"] is False
    assert killed["connected"] is False
    wait_for(
        lambda: sessid not in live_server.sockets(), what="the killed session to leave sockets"
    )
    ran = hooks(live_server, sessid)
    assert ("recv_disconnect", "/chat") in ran
    assert ("recv_disconnect", "/news") in ran
    client.assert_no_page_errors()


@pytest.mark.parametrize("polling", ["xhr-polling", "jsonp-polling"])
def test_server_kill_between_two_polls(client: Page, live_server: Any, polling: str) -> None:
    """A socket killed while its client has no GET waiting is still told it was booted.

    A polling client is without a pending GET between a response and its next
    request. The kill happens in that gap here (the page's next GET is held
    back until the server has dropped the session): that GET must get the
    ``0::`` the kill queued, so the client knows it was booted and does not
    reconnect, rather than ``7:::1+0`` (unknown session), which makes it
    handshake again.
    """
    held: list[Any] = []
    # Hold the GETs the page starts after this time (ms, the client's own ``t=``
    # query): decided from the request, not from when playwright runs this handler.
    hold_after: list[Optional[int]] = [None]

    def route(route: Any) -> None:
        t = urllib.parse.parse_qs(urllib.parse.urlsplit(route.request.url).query).get("t")
        mark = hold_after[0]
        if route.request.method == "GET" and mark is not None and t and int(t[0]) > mark:
            held.append(route)
        else:
            route.continue_()

    client.page.route(f"**/socket.io/1/{polling}/**", route)
    started = client.run(
        """async (t) => {
          window.chat = T.connect('/chat', t, {reconnect: true, 'reconnection delay': 50});
          const welcome = T.once(chat, 'welcome');
          await T.opened(chat);
          await welcome;
          await T.sleep(100);  // quiet: a GET waits at the server with nothing to say
          window.booted = [];
          chat.socket.on('disconnect', (reason) => booted.push(['disconnect', reason]));
          chat.socket.on('reconnecting', () => booted.push(['reconnecting']));
          chat.socket.on('connect', () => booted.push(['connect']));
          return {sessid: chat.socket.sessionid, now: Date.now()};
        }""",
        polling,
    )
    sessid = started["sessid"]
    hold_after[0] = started["now"]
    # The ack comes on the GET already waiting; the page's next GET is held.
    assert client.run("async () => await T.ack(chat, 'echo', ['last'])") == ["last"]
    deadline = time.monotonic() + 5
    while not held and time.monotonic() < deadline:
        client.page.wait_for_timeout(20)
    assert len(held) == 1, "the page did not poll again"
    client.run("() => { chat.emit('kill_socket'); }")
    # (wait_for_timeout, not time.sleep: playwright must run the route handler for the POST)
    deadline = time.monotonic() + 5
    while sessid in live_server.sockets():
        assert time.monotonic() < deadline, "the server did not drop the session"
        client.page.wait_for_timeout(20)
    hold_after[0] = None
    held[0].continue_()
    observed = client.run(
        """async () => {
          await T.within(5000, 'the disconnect', new Promise((resolve) => {
            const check = () => (booted.length ? resolve() : setTimeout(check, 10));
            check();
          }));
          await T.sleep(500);
          return {booted, connected: chat.socket.connected};
        }"""
    )
    assert observed == {"booted": [["disconnect", "booted"]], "connected": False}
    assert ("recv_disconnect", "/chat") in hooks(live_server, sessid)
    client.assert_no_page_errors()


# -- namespaces ----------------------------------------------------------------------


def test_two_namespaces_over_one_socket(client: Page, live_server: Any, transport: str) -> None:
    result = client.run(
        """async (t) => {
          const chat = T.connect('/chat', t);
          const news = chat.socket.of('/news');
          await Promise.all([T.opened(chat), T.opened(news)]);
          const [a, b] = await Promise.all([
            T.ack(chat, 'echo', ['to chat']),
            T.ack(news, 'echo', ['to news']),
          ]);
          return {a, b, same: chat.socket === news.socket, sessid: chat.socket.sessionid};
        }""",
        transport,
    )
    assert result["a"] == ["to chat"]
    assert result["b"] == ["to news"]
    assert result["same"] is True
    ran = hooks(live_server, result["sessid"])
    assert ("recv_connect", "/chat") in ran
    assert ("recv_connect", "/news") in ran
    assert result["sessid"] in live_server.sockets()
    client.assert_no_page_errors()


# -- payloads ------------------------------------------------------------------------


def test_tricky_payloads_round_trip(client: Page, transport: str) -> None:
    result = client.run(
        """async ([t, tricky]) => {
          const chat = T.connect('/chat', t);
          await T.opened(chat);
          // All at once as the args of one event...
          const together = await T.ack(chat, 'echo', tricky);
          // ... one event each, fired together (polling transports frame them in one body) ...
          const separately = (await Promise.all(
            tricky.map((s) => T.ack(chat, 'echo', [s])))).map((r) => r[0]);
          // ... as raw messages (not JSON) and as JSON, echoed back by recv_message/recv_json.
          // (The first send goes out alone; the rest wait for it and leave framed together.)
          const messages = T.collect(chat, 'message', 1 + 2 * tricky.length, 10000);
          chat.send('first');
          for (const s of tricky) chat.send(s);
          for (const s of tricky) chat.json.send({[s]: s});
          const echoed = (await messages).slice(1);
          // On the global namespace too.
          const main = chat.socket.of('');
          const global = await T.ack(main, 'echo', tricky);
          const same = (xs) => xs.length === tricky.length && xs.every((x, i) => x === tricky[i]);
          return {
            together, separately, echoed, global,
            exact: {
              together: same(together), separately: same(separately), global: same(global),
              messages: same(echoed.slice(0, tricky.length)),
              json: echoed.slice(tricky.length).every(
                (o, i) => Object.keys(o).length === 1 && o[tricky[i]] === tricky[i]),
            },
          };
        }""",
        [transport, TRICKY],
    )
    assert result["exact"] == {
        "together": True,
        "separately": True,
        "global": True,
        "messages": True,
        "json": True,
    }
    assert result["together"] == TRICKY
    assert result["separately"] == TRICKY
    assert result["global"] == TRICKY
    assert result["echoed"] == TRICKY + [{s: s} for s in TRICKY]
    sent = client_payloads(client, transport)
    if transport == "websocket":
        assert not [f for f in sent if not f[:1].isdigit()], "a frame that is not one packet"
    else:
        # The events fired together were buffered and posted as one framed payload.
        assert [p for p in sent if p.startswith("\ufffd")], "no framed payload was posted"
    # Every string went out: its JSON form is in some packet the page sent.
    wire = "".join(sent)
    for s in TRICKY:
        assert json.dumps(s, ensure_ascii=False)[1:-1] in wire, s
    # A payload that broke out of its JSONP <script> would have thrown.
    client.assert_no_page_errors()


def test_one_megabyte_both_ways(client: Page, transport: str) -> None:
    result = client.run(
        """async ([t, tail]) => {
          const chat = T.connect('/chat', t);
          await T.opened(chat);
          const size = 1 << 20;
          const big = 'x'.repeat(size - tail.length) + tail;
          const [echo] = await T.ack(chat, 'echo', [big], 20000);
          const [fromServer] = await T.ack(chat, 'big', [size], 20000);
          return {
            sentLength: big.length, echoLength: echo.length, echoExact: echo === big,
            serverLength: fromServer.length, serverExact: fromServer === 'x'.repeat(size),
          };
        }""",
        [transport, "".join(TRICKY)],
    )
    assert result == {
        "sentLength": 1 << 20,
        "echoLength": 1 << 20,
        "echoExact": True,
        "serverLength": 1 << 20,
        "serverExact": True,
    }
    client.assert_no_page_errors()


# -- reconnection --------------------------------------------------------------------


def crash_restart(server: Any) -> None:
    """The server process dies at once (SIGKILL: a crash, an OOM kill) and a new one starts."""
    server.proc.kill()
    server.proc.wait(10)
    server.stop()
    server.start()


def graceful_restart(server: Any) -> None:
    """The server stops as on Ctrl-C, then a new one starts (a deploy).

    It stops as ``serve_forever`` does on Ctrl-C (``SocketIOServer.stop()``).

    It first lets the server go idle (the page's long-poll held, no request
    half-served), so the signal finds the server waiting rather than interrupting a
    greenlet in the middle of a request.
    """
    time.sleep(0.3)  # the page polls again (when, it does not tell)
    server.proc.send_signal(signal.SIGINT)
    server.proc.wait(10)
    server.stop()
    server.start()


@pytest.mark.parametrize(
    "restart",
    [
        pytest.param(crash_restart, id="crash"),
        # stop() must end the sessions without '0::' (which means "booted": a 0.9
        # client never comes back after it).
        pytest.param(graceful_restart, id="graceful"),
    ],
)
def test_reconnects_after_server_restart(
    page: Page, make_server: Any, transport: str, restart: Callable[[Any], None]
) -> None:
    server = make_server()
    page.open(server)
    before = page.run(
        """async (t) => {
          const chat = T.connect('/chat', t, {
            reconnect: true, 'reconnection delay': 100, 'max reconnection attempts': 30});
          const welcome = T.once(chat, 'welcome');
          await T.opened(chat);
          await welcome;
          window.chat = chat;
          window.events = [];
          for (const e of ['disconnect', 'reconnecting', 'reconnect'])
            chat.socket.on(e, (...args) => events.push(e));
          // Awaited later; .catch() only keeps a timeout from being an "uncaught" error meanwhile.
          window.disconnected = T.once(chat, 'disconnect', 20000);
          window.reconnected = T.once(chat, 'reconnect', 20000);
          window.welcomeAgain = T.once(chat, 'welcome', 20000);
          [disconnected, reconnected, welcomeAgain].forEach((p) => p.catch(() => {}));
          return {sessid: chat.socket.sessionid, echo: await T.ack(chat, 'echo', ['before'])};
        }""",
        transport,
    )
    assert before["echo"] == ["before"]
    restart(server)
    after = page.run(
        """async () => {
          const [disconnectReason] = await disconnected;
          if (disconnectReason === 'booted')
            throw new Error("the server booted the client ('0::'): a 0.9 client never reconnects then");
          const [transportName] = await reconnected;
          const welcome = await welcomeAgain;
          return {
            disconnectReason, transportName, welcome,
            sessid: chat.socket.sessionid,
            echo: await T.ack(chat, 'echo', ['after']),
            events: [...new Set(events)],
          };
        }"""
    )
    assert after["disconnectReason"] is None  # the transport closed: not 'booted'
    assert after["transportName"] == transport
    assert after["welcome"] == ["/chat"]
    assert after["echo"] == ["after"]
    assert after["sessid"] != before["sessid"]
    assert after["events"] == ["disconnect", "reconnecting", "reconnect"]
    assert after["sessid"] in server.sockets()
    assert ("recv_connect", "/chat") in hooks(server, after["sessid"])
    page.assert_no_page_errors()


# -- the client's own suite ------------------------------------------------------


@pytest.fixture(scope="module")
def client_suite_ports() -> Iterator[dict[str, Any]]:
    """``client_suite_app``: a server per test of the client's suite, and the page server.

    It runs in a process of its own (it monkey-patches whatever imports it).
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.client_suite_app"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ports = json.loads(proc.stdout.readline())
        assert len(ports["tests"]) == 22  # every test of socket.test.js
        yield ports
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_clients_own_socket_suite(browser, client_suite_ports, transport):
    """socket.io-client 0.9.16's ``test/socket.test.js``, every test, on one transport.

    The suite is the client's own file from npm, run as its runner ran it (a
    fresh connection per test, ``should`` assertions); the server side of each
    test is ``client_suite_app``, written with this library's API.
    """
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{client_suite_ports['page']}/?transport={transport}")
        page.wait_for_function("window.done === true", timeout=120_000)
        results = page.evaluate("results")
    finally:
        page.close()
    assert [name for name, _ in results] == list(client_suite_ports["tests"])
    assert [r for r in results if r[1] != "ok"] == []
