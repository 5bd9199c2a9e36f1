"""Two server processes behind a real nginx that is not sticky (round robin, no ``ip_hash``).

As across hosts: two ``server_app`` processes on their own ports, sharing a
``session_secret``, each with a TCP ``forward_listener``; nginx proxies to
them in turn, websockets included (docs/scaling.rst's configuration, its
``ip_hash`` left out). nginx's access log names the backend of each request,
which shows that one session's requests reached both; the namespace hooks
(``/_events``, asked of each server directly) that they all ran at the owner.
"""

from __future__ import annotations

import pathlib
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.client09.waiting import wait_for

from .conftest import LiveServer
from .nginx import Nginx
from .node_client import NodeClient
from .nosticky import Scattered, owner_address
from .test_examples_browser import WAIT_MS, BrowserThread
from .test_forwarding import Sibling

Backends = tuple[Nginx, LiveServer, LiveServer]


def start_backends(directory: pathlib.Path) -> Backends:
    a = Sibling("127.0.0.1:0").start()
    b = Sibling("127.0.0.1:0").start()
    try:
        proxy = Nginx(directory, [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"])
    except BaseException:
        a.stop()
        b.stop()
        raise
    return proxy, a, b


def stop_backends(backends: Backends) -> None:
    for process in backends:
        process.stop()


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    backends = start_backends(tmp_path_factory.mktemp("nginx"))
    yield backends
    stop_backends(backends)


def hooks(servers: list[LiveServer], sid: str) -> dict[int, list[tuple[str, str]]]:
    """The namespace hooks that ran for ``sid``, by server port (only the owner should have any)."""
    found = {}
    for server in servers:
        mine = [(kind, ns) for kind, ns, sessid, _ in server.events() if sessid == sid]
        if mine:
            found[server.port] = mine
    return found


def owner(servers: list[LiveServer], sid: str) -> LiveServer:
    """The server whose forward listener ``sid`` names."""
    port = int(owner_address(sid).rsplit(":", 1)[1])
    [found] = [s for s in servers if f"serving forwarded requests on 127.0.0.1:{port}" in s.log()]
    return found


def both_served(proxy: Nginx, sid: str) -> None:
    wait_for(lambda: len(set(proxy.upstreams(sid))) == 2, what="requests to both backends")
    assert set(proxy.upstreams(sid)) == set(proxy.backends)


def left_once(
    servers: list[LiveServer], sid: str, ns: str = "/chat", at: LiveServer | None = None
) -> None:
    """``recv_disconnect`` ran once for ``sid``'s ``ns``, at its owner only (or ``at``)."""
    done = lambda: any(("recv_disconnect", ns) in h for h in hooks(servers, sid).values())  # noqa: E731
    wait_for(done, what="recv_disconnect")
    assert hooks(servers, sid) == {
        (at or owner(servers, sid)).port: [
            ("initialize", ns),
            ("recv_connect", ns),
            ("recv_disconnect", ns),
        ]
    }


# -- the real 0.9.16 node client -------------------------------------------------------


@pytest.mark.parametrize("transport", ["xhr-polling", "websocket"])
def test_the_node_client_through_nginx(
    behind_nginx: Backends, node_modules: Any, transport: str
) -> None:
    proxy, a, b = behind_nginx
    client = NodeClient(proxy.url)
    try:
        sid = client.connect("C", "/chat", transport)
        assert client.wait("C", "welcome") == ["/chat"]
        for n in range(6):
            assert client.emit("C", "echo", n, "x", ack=True) == [n, "x"]
        client.emit("C", "send_with_callback", "acked")  # a server emit with ack
        assert client.wait("C", "send_acked") == ["acked"]
        for n in range(8):
            client.emit("C", "broadcast", n)
        for _ in range(8):
            client.wait("C", "broadcast")
        got = [args for _, name, args in client.events("C") if name == "broadcast"]
        assert got == [[n] for n in range(8)]  # once each, in order
        assert client.call("state", label="C")["sessionid"] == sid
        client.call("disconnect", label="C")
        if transport == "xhr-polling":
            left_once([a, b], sid)
            both_served(proxy, sid)
        else:
            # One request, logged when it ends; the server it reached adopted the
            # session (round robin: not the one that answered the handshake).
            [upstream] = wait_for(lambda: proxy.upstreams(sid), what="the websocket's log line")
            [adopter] = [s for s in (a, b) if upstream == f"127.0.0.1:{s.port}"]
            assert adopter is not owner([a, b], sid)
            left_once([a, b], sid, at=adopter)
    finally:
        client.close()


def test_the_node_client_reconnects_when_the_owner_dies(
    tmp_path: pathlib.Path, node_modules: Any
) -> None:
    backends = proxy, a, b = start_backends(tmp_path)
    client = NodeClient(proxy.url)
    try:
        options = {"reconnect": True, "reconnection delay": 100, "max reconnection attempts": 20}
        sid = client.connect("C", "/chat", "xhr-polling", **options)
        assert client.emit("C", "echo", "before", ack=True) == ["before"]
        wire = Scattered(proxy.url)  # a wire-level session of the same owner
        while owner([a, b], wire.sid) is not owner([a, b], sid):
            wire = Scattered(proxy.url)
        assert wire.packets() == ["1::"]
        dead = owner([a, b], sid)
        assert dead.proc is not None
        dead.proc.send_signal(signal.SIGKILL)
        dead.proc.wait(5)
        # nginx passes a GET to the survivor when the dead one refuses; the survivor
        # finds the owner gone: the session is gone
        assert wire.get() == "7:::1+0"
        assert wire.get() == "7:::1+0"
        client.wait("socket:C", "reconnect", ms=10000)
        state = client.call("state", label="C")
        assert state["connected"]
        assert state["sessionid"] != sid
        assert client.emit("C", "echo", "after", ack=True) == ["after"]
    finally:
        client.close()
        stop_backends(backends)


# -- a browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserThread]:
    thread = BrowserThread()
    yield thread
    thread.close()


PAGE_SCRIPT = """async (t) => {
  const within = (ms, what, p) => Promise.race([p, new Promise((_, no) =>
    setTimeout(() => no(new Error('timed out waiting for ' + what)), ms))]);
  const chat = io.connect(location.origin + '/chat', {
    transports: [t], 'force new connection': true, reconnect: false,
  });
  const welcome = new Promise((yes) => chat.once('welcome', (...a) => yes(a)));
  await within(5000, 'connect', new Promise((yes) => chat.once('connect', yes)));
  const ack = (name, ...args) => within(5000, 'ack of ' + name,
    new Promise((yes) => chat.emit(name, ...args, (...got) => yes(got))));
  const echoes = [];
  for (let n = 0; n < 6; n++) echoes.push(await ack('echo', n, 'x'));
  chat.once('question', (q, fn) => fn('answer to ' + q));
  const answered = new Promise((yes) => chat.once('answered', (...a) => yes(a)));
  chat.emit('ask', 'why?');
  const result = {
    sid: chat.socket.sessionid, transport: chat.socket.transport.name,
    welcome: await within(5000, 'welcome', welcome), echoes,
    answered: await within(5000, 'answered', answered),
  };
  // (the client would drop its "0::" while a POST is in flight)
  while (chat.socket.doBuffer || chat.socket.buffer.length) await new Promise((y) => setTimeout(y, 10));
  chat.socket.disconnect();
  return result;
}"""


@pytest.mark.parametrize("transport", ["xhr-polling", "jsonp-polling"])
def test_a_browser_page_through_nginx(
    behind_nginx: Backends, browser: BrowserThread, transport: str
) -> None:
    proxy, a, b = behind_nginx

    errors: list[str] = []
    pages: list[Any] = []

    def visit(chromium: Any) -> dict:
        page = chromium.new_page()
        pages.append(page)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(proxy.url + "/page.html", wait_until="load", timeout=WAIT_MS)
        return page.evaluate(PAGE_SCRIPT, transport)

    try:
        result = browser.run(visit)
        left_once([a, b], result["sid"])  # (the page stays open while its "0::" goes)
    finally:
        for page in pages:
            browser.run(lambda _, page=page: page.close())
    assert errors == []
    assert result["transport"] == transport
    assert result["welcome"] == ["/chat"]
    assert result["echoes"] == [[n, "x"] for n in range(6)]
    assert result["answered"] == [["answer to why?"]]
    both_served(proxy, result["sid"])
