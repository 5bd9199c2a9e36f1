"""Polling without sticky routing: two server processes, each request of a client to either.

Two ``server_app`` processes share a ``session_secret`` and each has a
``forward_listener`` (a unix socket, as gunicorn's workers get, or a TCP
port, as across hosts). A polling client handshakes with one and sends each
GET and POST to one or the other: its session stays one, at its owner.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.client09.handshake import handshake, transport_url
from tests.client09.http import RawStream
from tests.client09.polling import PollingClient

from .conftest import LiveServer
from .nosticky import echo_transcript

SECRET = "forwarding-test-secret"


class Sibling(LiveServer):
    """A test server with a forward listener; ``sibling.forward`` is its address."""

    def __init__(self, forward: str, **options: object) -> None:
        config = {"session_secret": SECRET, "forward_listener": forward}
        config.update(json.loads(str(options.pop("config", "{}"))))
        super().__init__(config=json.dumps(config), **options)
        self.forward = forward


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sio-fwd-") as path:
        yield Path(path)


@pytest.fixture
def siblings(socket_dir: Path) -> Iterator[Callable[..., tuple[Sibling, Sibling]]]:
    started: list[Sibling] = []

    def make(tcp: bool = False, **options: object) -> tuple[Sibling, Sibling]:
        pair = []
        for name in ("a", "b"):
            forward = "127.0.0.1:0" if tcp else f"unix:{socket_dir / name}.sock"
            server = Sibling(forward, **options)
            started.append(server)
            pair.append(server.start())
        return pair[0], pair[1]

    yield make
    for server in started:
        server.stop()


class Roaming(PollingClient):
    """A polling client whose every request goes to the next server in turn."""

    def __init__(self, servers: list[LiveServer], transport: str = "xhr-polling") -> None:
        self.servers = servers
        self.turn = 0
        super().__init__(servers[0].url, transport=transport, open=False)
        self.urls = [transport_url(s.url, transport, self.sid) for s in servers]

    def _next(self) -> None:
        self.turn = (self.turn + 1) % len(self.urls)
        self.url = self.urls[self.turn]

    def get(self, timeout: float = 10, **headers: str) -> str:
        self._next()
        return super().get(timeout, **headers)

    def post(self, body: str, **headers: str) -> requests.Response:
        self._next()
        return super().post(body, **headers)


@pytest.mark.parametrize("tcp", [False, True], ids=["unix", "tcp"])
@pytest.mark.parametrize("transport", ["xhr-polling", "jsonp-polling"])
def test_a_session_is_one_whichever_process_each_request_reaches(
    siblings: Callable[..., tuple[Sibling, Sibling]], tcp: bool, transport: str
) -> None:
    a, b = siblings(tcp=tcp)
    client = Roaming([a, b], transport)
    assert client.get() == "1::"  # (served by b, forwarded to a: the owner)
    client.send("1::/chat")
    for n in range(1, 7):
        client.send(f'5:{n}+:/chat:{{"name":"echo","args":[{n}]}}')
    seen: list[str] = []
    while len(seen) < 8:
        seen += [p for p in client.packets() if p[0] in "156"]
    assert seen == echo_transcript(6)
    client.close()


def test_a_forward_listener_refuses_what_is_not_signed(
    siblings: Callable[..., tuple[Sibling, Sibling]],
) -> None:
    a, _ = siblings(tcp=True)
    sid = handshake(a.url, requests.Session())[0]
    log = a.log_path.read_text()
    port = int(log.split("serving forwarded requests on 127.0.0.1:")[-1].split()[0])
    direct = f"http://127.0.0.1:{port}/socket.io/1/xhr-polling/{sid}"
    resp = requests.get(direct, timeout=5)
    assert resp.status_code == 403
    forged = requests.get(direct, timeout=5, headers={"X-Socketio-Forwarded": "1.2.3.4 abcd"})
    assert forged.status_code == 403
    assert requests.get(f"http://127.0.0.1:{port}/socket.io/1/", timeout=5).status_code == 403


def test_an_owner_gone_is_a_session_gone(
    siblings: Callable[..., tuple[Sibling, Sibling]],
) -> None:
    a, b = siblings()
    sid = handshake(a.url, requests.Session())[0]
    a.stop()
    resp = requests.get(transport_url(b.url, "xhr-polling", sid), timeout=5)
    assert (resp.status_code, resp.text) == (200, "7:::1+0")
    resp = requests.post(transport_url(b.url, "xhr-polling", sid), data=b"1::/chat", timeout=5)
    assert resp.text == "7:::1+0"


@pytest.mark.parametrize("transport", ["htmlfile", "xhr-multipart"])
def test_a_stream_is_relayed_as_it_comes(
    siblings: Callable[..., tuple[Sibling, Sibling]], transport: str
) -> None:
    a, b = siblings(heartbeat_interval=1)
    sid = handshake(a.url, requests.Session())[0]
    stream = RawStream(transport_url(b.url, transport, sid))  # (owner: a)
    try:
        assert stream.status == 200
        assert stream.headers["transfer-encoding"] == "chunked"
        want = "text/html" if transport == "htmlfile" else "multipart/x-mixed-replace"
        assert stream.headers["content-type"].startswith(want)
        text = stream.read_text_until("1::")
        for n, url in enumerate([a.url, b.url, a.url]):
            resp = requests.post(
                transport_url(url, transport, sid),
                data=f'5:{n + 1}+::{{"name":"echo","args":[{n}]}}'.encode(),
                timeout=5,
            )
            assert resp.text == "1"
        text = stream.read_text_until(r"6:::3\+\[2\]", text)
        assert [text.index(f"6:::{n + 1}+[{n}]") for n in range(3)] == sorted(
            text.index(f"6:::{n + 1}+[{n}]") for n in range(3)
        )
        text = stream.read_text_until("2::", text)  # (heartbeats flow through the relay)
    finally:
        stream.close()


def test_a_client_leaving_through_a_sibling_leaves_its_owner(
    siblings: Callable[..., tuple[Sibling, Sibling]],
) -> None:
    a, b = siblings()
    client = Roaming([a, b])
    assert client.get() == "1::"
    client.send("1::/chat")
    resp = requests.get(
        transport_url(b.url, "xhr-polling", client.sid) + "?disconnect=1", timeout=5
    )
    assert resp.status_code == 200
    resp = requests.get(transport_url(a.url, "xhr-polling", client.sid), timeout=5)
    assert resp.text in ("7:::1+0", "0::")  # (its farewell, or gone)


def test_forwarded_requests_are_counted_by_outcome(socket_dir: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from .conftest import free_port

    port = free_port()
    a = Sibling(
        f"unix:{socket_dir}/a.sock", config=json.dumps({"metrics_listener": ["127.0.0.1", port]})
    )
    b = Sibling(f"unix:{socket_dir}/b.sock")

    def counts() -> dict[str, float]:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        return {
            sample.labels["outcome"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "socketio_forwarded_requests_total"
        }

    try:
        a.start()
        b.start()
        sid = handshake(b.url, requests.Session())[0]
        client = PollingClient(a.url, sid=sid)  # (every request through a)
        assert client.get() == "1::"
        client.send("1::/chat")
        assert counts() == {"relayed": 2, "owner_gone": 0, "owner_timeout": 0, "owner_busy": 0}
        b.stop()
        resp = requests.get(client.url, timeout=5)
        assert resp.text == "7:::1+0"
        assert counts() == {"relayed": 2, "owner_gone": 1, "owner_timeout": 0, "owner_busy": 0}
    finally:
        a.stop()
        b.stop()


def test_whatever_else_listens_at_a_dead_owners_address_is_not_believed(
    siblings: Callable[..., tuple[Sibling, Sibling]],
) -> None:
    import http.server
    import threading

    a, b = siblings(tcp=True)
    sid = handshake(a.url, requests.Session())[0]
    port = int(
        a.log_path.read_text().split("serving forwarded requests on 127.0.0.1:")[-1].split()[0]
    )
    a.stop()

    class Impostor(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'5:::{"name":"phish","args":[]}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    impostor = http.server.HTTPServer(("127.0.0.1", port), Impostor)
    threading.Thread(target=impostor.serve_forever, daemon=True).start()
    try:
        resp = requests.get(transport_url(b.url, "xhr-polling", sid), timeout=5)
        assert (resp.status_code, resp.text) == (200, "7:::1+0")
    finally:
        impostor.shutdown()
        impostor.server_close()


def test_forwarding_needs_no_redis(siblings: Callable[..., tuple[Sibling, Sibling]]) -> None:
    from .conftest import free_port

    nobody = f"redis://127.0.0.1:{free_port()}/0"  # (nothing listens there)
    a, b = siblings(manager=nobody)
    client = Roaming([a, b])
    assert client.get() == "1::"
    client.send("1::/chat")
    client.send('5:1+:/chat:{"name":"echo","args":["no redis"]}')
    seen: list[str] = []
    while '6::/chat:1+["no redis"]' not in seen:
        seen += client.packets()
    client.close()
