"""Attacks on polling without sticky routing (issue 22): forwarded requests, forward listeners.

Two echo servers (``benchmarks/attacks/app.py``) share a ``session_secret``
and each has a ``forward_listener``. What an attacker may try, and what holds:

- A client's own ``X-Socketio-Forwarded`` header, even one genuinely signed,
  changes nothing on the public port: the application sees the connection's
  address, and a forwarded request carries the header the forwarding
  process wrote, not the client's.
- A forward listener serves only what a sibling signed, for that session
  and that client address: no handshake, no unsigned poll, POST or
  disconnect, no websocket.
- A session id whose owner is not signed with the secret is never connected
  to, tcp or unix (no server-side request forgery).
- A hung owner costs its polls a 504 after ``poll_hold + forward_timeout``,
  and the process that forwards them keeps serving its own clients.
- An oversized or a slowloris body is refused where it lands, never
  forwarded; an owner answering garbage, closing mid-answer or streaming
  forever leaves the forwarding process healthy.
- Misrouted held polls are bounded by ``max_connections``: 503s, no 500s,
  no tracebacks.

A fake owner here is a real listening socket of the test, named by a
session id the test signs with the shared secret (as a sibling would).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from socketio.sessionid import forward_signature, new_sessid, owner_signature
from tests.client09.framing import unframe
from tests.client09.handshake import handshake, transport_url
from tests.client09.waiting import wait_for

from .conftest import LiveServer

SECRET = "forwarding-attack-secret"
HEADER = "X-Socketio-Forwarded"
NOT_HANDSHAKEN = "7:::1+0"
TIMEOUT = 10


class Node(LiveServer):
    """The attacks' echo server with a forward listener (``tcp``: a TCP port, else a unix socket)."""

    module = "benchmarks.attacks.app"

    def __init__(self, log_dir: pathlib.Path, forward: str, **config: object) -> None:
        settings = {"session_secret": SECRET, "forward_listener": forward, **config}
        super().__init__(config=json.dumps(settings))
        self.log_path = log_dir / f"node-{self.port}.log"

    @property
    def forward(self) -> str:
        """The address its forward listener is bound to, as its session ids name it."""
        line = wait_for(
            lambda: re.search(r"serving forwarded requests on (\S+)", self.log()), what="listener"
        )
        return line.group(1)

    @property
    def forward_port(self) -> int:
        return int(self.forward.rsplit(":", 1)[1])

    def poll_url(self, sid: str, transport: str = "xhr-polling") -> str:
        return transport_url(self.url, transport, sid)

    def fds(self) -> int:
        assert self.proc is not None
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def assert_quiet_log(self) -> None:
        text = self.log()
        assert "Traceback" not in text, text[-3000:]
        assert not [line for line in text.splitlines() if line.startswith(("ERROR", "CRITICAL"))]


@pytest.fixture
def nodes(tmp_path: pathlib.Path) -> Iterator[Callable[..., tuple[Node, Node]]]:
    """A factory of two started siblings (``tcp=True``: TCP forward listeners)."""
    started: list[Node] = []

    def make(tcp: bool = True, **config: object) -> tuple[Node, Node]:
        pair = []
        for name in ("a", "b"):
            forward = "127.0.0.1:0" if tcp else f"unix:{tmp_path}/{name}.sock"
            node = Node(tmp_path, forward, **config)
            started.append(node)
            pair.append(node.start())
        return pair[0], pair[1]

    yield make
    for node in started:
        if node.proc is not None and node.proc.poll() is None:
            os.kill(node.proc.pid, signal.SIGCONT)  # (a test that failed while it was stopped)
        node.stop()


def opened(node: Node, via: Node | None = None, **headers: str) -> str:
    """A session handshaken with ``node`` and opened by a first GET to ``via`` (default ``node``)."""
    sid = handshake(node.url).sid
    resp = requests.get((via or node).poll_url(sid), headers=headers, timeout=TIMEOUT)
    assert (resp.status_code, resp.text) == (200, "1::")
    return sid


def echo(node: Node, sid: str, n: int) -> None:
    """One echo with an ack over xhr-polling at ``node``: POST it, GET until the ack comes."""
    url = node.poll_url(sid)
    resp = requests.post(url, data=f'5:{n}+::{{"name":"echo","args":[{n}]}}', timeout=TIMEOUT)
    assert (resp.status_code, resp.text) == (200, "1")
    wait_for(lambda: f"6:::{n}+[{n}]" in requests.get(url, timeout=TIMEOUT).text, TIMEOUT, "ack")


class Trap:
    """A listening socket that nothing should connect to (``unix``: a unix socket in ``directory``)."""

    def __init__(self, directory: pathlib.Path, unix: bool = False) -> None:
        if unix:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            path = str(directory / "trap.sock")
            self.sock.bind(path)
            self.address = f"unix:{path}"
        else:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.sock.listen(64)
        self.sock.setblocking(False)

    def accepted(self) -> int:
        """How many connections are waiting to be accepted (each then closed)."""
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1

    def close(self) -> None:
        self.sock.close()


class FakeOwner:
    """A fake owner: accepts connections and answers each request head with ``answer(conn)``.

    ``closed_by_peer`` is set when a write found the connection closed by the forwarding process.
    """

    def __init__(self, answer: Callable[[socket.socket], None], sign: bool = True) -> None:
        self.sign = sign
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.answer = answer
        self.requests: list[bytes] = []
        self.closed_by_peer = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                more = conn.recv(65536)
                if not more:
                    return
                data += more
            self.requests.append(data)
            try:
                self.answer(_Signing(conn, data) if self.sign else conn)
            except OSError:
                self.closed_by_peer.set()

    def close(self) -> None:
        self.sock.close()


class _Signing:
    """A fake owner's connection that signs its answer as a genuine owner would.

    (The forwarding process relays only answers signed with the secret: the
    fake owners stand for a sibling that misbehaves, not for a stranger.)
    """

    def __init__(self, conn: socket.socket, request: bytes) -> None:
        self.conn = conn
        sid = request.split(b" ", 2)[1].split(b"?")[0].rsplit(b"/", 1)[-1].decode()
        self.header = f"X-Socketio-Owner: {owner_signature(SECRET, sid)}\r\n".encode()

    def sendall(self, data: bytes) -> None:
        header, self.header = self.header, b""
        if header and data.startswith(b"HTTP/1.1 ") and b"\r\n" in data:
            line, rest = data.split(b"\r\n", 1)
            data = line + b"\r\n" + header + rest
        self.conn.sendall(data)


def owned_by(address: str) -> str:
    """A session id genuinely signed with the shared secret, naming ``address`` as its owner."""
    return new_sessid(SECRET, time.time(), address)


def raw_exchange(port: int, request: bytes, timeout: float = TIMEOUT) -> bytes:
    """Send ``request`` on a new connection; what comes back until the server closes or pauses."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        data = b""
        try:
            while True:
                more = conn.recv(65536)
                if not more:
                    break
                data += more
                if b"\r\n\r\n" in data and _complete(data):
                    break
        except socket.timeout:  # (TimeoutError from 3.10; not yet on PyPy 3.9)
            pass
        return data


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?i)content-length: *(\d+)", head)
    return bool(match) and len(body) >= int(match.group(1))


def status_of(data: bytes) -> int:
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0


# -- the header on the public port --------------------------------------------------


@pytest.mark.parametrize("misrouted", [False, True], ids=["direct", "misrouted"])
def test_a_clients_forwarded_header_changes_nothing_on_the_public_port(nodes, misrouted) -> None:
    a, b = nodes()
    entry = b if misrouted else a
    sid = handshake(a.url).sid
    # The worst case: a header genuinely signed for this session (leaked, or
    # made by someone holding the secret), claiming another address.
    forged = f"6.6.6.6 {forward_signature(SECRET, sid, '6.6.6.6')}"
    url = entry.poll_url(sid)
    resp = requests.get(url, headers={HEADER: forged}, timeout=TIMEOUT)
    assert resp.text == "1::"
    body = '5:1+::{"name":"whereami","args":[]}'
    resp = requests.post(url, data=body, headers={HEADER: forged}, timeout=TIMEOUT)
    assert resp.text == "1"
    answer = wait_for(
        lambda: [
            p for p in unframe(requests.get(url, timeout=TIMEOUT).text) if p.startswith("6:::1+")
        ],
        TIMEOUT,
        "the whereami ack",
    )
    ((remote_addr, header_seen),) = json.loads(answer[0][len("6:::1+") :])
    assert remote_addr == "127.0.0.1"
    if misrouted:  # the owner got the forwarding process's header, not the client's
        assert header_seen != forged
        assert header_seen.startswith("127.0.0.1 ")
    else:  # (passed on as any header, and not honoured)
        assert header_seen == forged
    a.assert_quiet_log()
    b.assert_quiet_log()


# -- the forward listener -----------------------------------------------------------


def test_the_forward_listener_serves_only_what_a_sibling_signed(nodes) -> None:
    a, _ = nodes()
    sid, other = handshake(a.url).sid, handshake(a.url).sid
    listener = f"http://127.0.0.1:{a.forward_port}"
    poll = f"{listener}/socket.io/1/xhr-polling/{sid}"
    genuine = forward_signature(SECRET, sid, "127.0.0.1")
    refused = {
        "unsigned": {},
        "garbage": {HEADER: "127.0.0.1 0123456789abcdef"},
        "no address": {HEADER: genuine},
        "signed for another session": {
            HEADER: f"127.0.0.1 {forward_signature(SECRET, other, '127.0.0.1')}"
        },
        "signed for another address": {HEADER: f"6.6.6.6 {genuine}"},
        "signed with another secret": {
            HEADER: f"127.0.0.1 {forward_signature('guess', sid, '127.0.0.1')}"
        },
    }
    for what, headers in refused.items():
        assert requests.get(poll, headers=headers, timeout=TIMEOUT).status_code == 403, what
        resp = requests.post(poll, data=b"0::", headers=headers, timeout=TIMEOUT)
        assert resp.status_code == 403, what
        resp = requests.get(poll + "?disconnect", headers=headers, timeout=TIMEOUT)
        assert resp.status_code == 403, what
    # No handshake there, whatever the header.
    for headers in refused.values():
        assert requests.get(f"{listener}/socket.io/1/", headers=headers).status_code == 403
    # An unsigned websocket upgrade is refused before any upgrade.
    upgrade = (
        f"GET /socket.io/1/websocket/{sid} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    assert status_of(raw_exchange(a.forward_port, upgrade)) == 403
    # None of it touched the session: it opens as new, at its owner.
    assert requests.get(a.poll_url(sid), timeout=TIMEOUT).text == "1::"
    a.assert_quiet_log()


def test_the_forward_listener_serves_no_application_page(nodes) -> None:
    a, _ = nodes()
    answer = raw_exchange(a.forward_port, b"GET /any/page HTTP/1.1\r\nHost: x\r\n\r\n")
    # (the echo application answers its own 404 "not found" to any page)
    assert status_of(answer) == 403, answer


def test_the_forward_listener_upgrades_no_websocket_even_signed(nodes) -> None:
    a, _ = nodes()
    sid = handshake(a.url).sid
    signed = f"127.0.0.1 {forward_signature(SECRET, sid, '127.0.0.1')}"
    upgrade = (
        f"GET /socket.io/1/websocket/{sid} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\n{HEADER}: {signed}\r\n\r\n"
    ).encode()
    answer = raw_exchange(a.forward_port, upgrade, timeout=2)
    assert status_of(answer) != 101, answer


# -- forged owners ------------------------------------------------------------------


@pytest.mark.parametrize("unix", [False, True], ids=["tcp-trap", "unix-trap"])
def test_a_sid_naming_a_forged_owner_is_never_connected_to(nodes, tmp_path, unix) -> None:
    _, b = nodes(tcp=not unix, polling_duration=1, forward_timeout=1)
    trap = Trap(tmp_path, unix)
    try:
        genuine = owned_by(trap.address)
        other_secret = new_sessid("another secret", time.time(), trap.address)
        forged_mac = genuine[:-16] + ("0" if genuine[-16] != "0" else "1") + genuine[-15:]
        unsigned = genuine[:-16]
        for sid in (other_secret, forged_mac, unsigned):
            for transport in ("xhr-polling", "jsonp-polling"):
                url = b.poll_url(sid, transport)
                assert NOT_HANDSHAKEN in requests.get(url, timeout=TIMEOUT).text
                resp = requests.post(url, data={"d": "1::"}, timeout=TIMEOUT)
                assert NOT_HANDSHAKEN in resp.text
            resp = requests.get(b.poll_url(sid) + "?disconnect", timeout=TIMEOUT)
            assert resp.status_code == 200
        # Every request was answered: a forward would have connected before.
        assert trap.accepted() == 0
        # The trap does see a connection to an owner the secret signed (which
        # never answers: 504 after poll_hold + forward_timeout).
        resp = requests.get(b.poll_url(genuine), timeout=TIMEOUT)
        assert resp.status_code == 504
        assert trap.accepted() == 1
    finally:
        trap.close()
    b.assert_quiet_log()


# -- a hung owner -------------------------------------------------------------------


def test_a_hung_owner_costs_a_504_and_the_forwarder_keeps_serving(nodes) -> None:
    a, b = nodes(tcp=False, polling_duration=2, forward_timeout=1)
    sid = opened(a)
    own = opened(b)
    results: dict[str, requests.Response] = {}

    def misrouted(method: str) -> None:
        url = b.poll_url(sid)
        bound = 2 + 1 + 5  # poll_hold + forward_timeout, and a margin
        if method == "GET":
            results[method] = requests.get(url, timeout=bound)
        else:
            results[method] = requests.post(url, data="5:::{}", timeout=bound)

    assert a.proc is not None
    os.kill(a.proc.pid, signal.SIGSTOP)
    try:
        waiting = [threading.Thread(target=misrouted, args=(m,)) for m in ("GET", "POST")]
        for thread in waiting:
            thread.start()
        for n in range(1, 4):  # b's own client meanwhile
            echo(b, own, n)
        for thread in waiting:
            thread.join(15)
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
    for method in ("GET", "POST"):
        resp = results[method]
        assert resp.status_code == 504, (method, resp.status_code, resp.text)
        assert resp.headers["Connection"].lower() == "close"
    echo(b, own, 4)
    assert "did not answer in time" in b.log()
    b.assert_quiet_log()
    a.assert_quiet_log()


# -- bodies -------------------------------------------------------------------------


def test_an_oversized_post_is_refused_where_it_lands(nodes, tmp_path) -> None:
    _, b = nodes(max_body_size=1000)
    trap = Trap(tmp_path)
    try:
        resp = requests.post(
            b.poll_url(owned_by(trap.address)), data="5:::" + "x" * 5000, timeout=TIMEOUT
        )
        assert resp.status_code == 413
        assert trap.accepted() == 0
    finally:
        trap.close()
    b.assert_quiet_log()


def test_a_slowloris_body_meets_the_body_timeout_where_it_lands(nodes, tmp_path) -> None:
    _, b = nodes(body_timeout=1)
    trap = Trap(tmp_path)
    try:
        sid = owned_by(trap.address)
        head = (
            f"POST /socket.io/1/xhr-polling/{sid} HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: 100\r\n\r\n5:::"
        ).encode()
        with socket.create_connection(("127.0.0.1", b.port), timeout=TIMEOUT) as conn:
            conn.sendall(head)
            data = b""
            while True:
                more = conn.recv(65536)  # (the server answers, then closes)
                if not more:
                    break
                data += more
        assert status_of(data) == 408, data
        assert trap.accepted() == 0
    finally:
        trap.close()
    b.assert_quiet_log()


# -- a misbehaving owner ------------------------------------------------------------


def _garbage(conn: socket.socket) -> None:
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")


def _huge_head(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 40_000 + b"\r\n\r\n")
    time.sleep(1)


def _cut_short(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n1::")


def _closes(conn: socket.socket) -> None:
    pass


def _bad_chunks(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n")


def _busy(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")


def test_an_owner_past_its_connection_cap_gets_the_client_a_503(nodes) -> None:
    _, b = nodes()
    owner = FakeOwner(_busy, sign=False)  # (refused before reading: nothing to sign with)
    try:
        resp = requests.get(b.poll_url(owned_by(owner.address)), timeout=TIMEOUT)
        assert resp.status_code == 503
        assert resp.headers["Connection"] == "close"
    finally:
        owner.close()
    b.assert_quiet_log()


def test_an_owner_answering_garbage_is_an_owner_gone(nodes) -> None:
    _, b = nodes()
    for answer in (_garbage, _huge_head, _cut_short, _closes):
        owner = FakeOwner(answer)
        try:
            resp = requests.get(b.poll_url(owned_by(owner.address)), timeout=TIMEOUT)
            assert (resp.status_code, resp.text) == (200, NOT_HANDSHAKEN), answer.__name__
            assert len(owner.requests) == 1
            assert owner.requests[0].startswith(b"GET /socket.io/1/xhr-polling/")
        finally:
            owner.close()
    b.assert_quiet_log()


def test_a_stream_that_never_ends_is_dropped_with_its_client(nodes) -> None:
    """An owner streaming forever: relayed to the client, and closed once the client leaves."""
    _, b = nodes()
    sid = opened(b)

    def forever(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            conn.sendall(b"3\r\n8::\r\n")
            time.sleep(0.02)

    owner = FakeOwner(forever)
    bad = FakeOwner(_bad_chunks)
    try:
        path = f"/socket.io/1/xhr-polling/{owned_by(owner.address)}"
        with socket.create_connection(("127.0.0.1", b.port), timeout=TIMEOUT) as conn:
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            data = b""
            while data.count(b"8::") < 10:
                data += conn.recv(65536)
            assert status_of(data) == 200
            echo(b, sid, 1)  # b serves its own client meanwhile
        wait_for(owner.closed_by_peer.is_set, TIMEOUT, "the owner's connection to close")
        # A stream whose framing breaks is cut there, with nothing of the bad chunk
        # (here before its first byte: the connection closes without an answer).
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(b.poll_url(owned_by(bad.address)), timeout=TIMEOUT)
        echo(b, sid, 2)
    finally:
        owner.close()
        bad.close()
    b.assert_quiet_log()


# -- many held polls ----------------------------------------------------------------


def test_misrouted_held_polls_are_bounded_by_max_connections(nodes) -> None:
    a, b = nodes(tcp=False, max_connections=40, polling_duration=3)
    sids = [opened(a) for _ in range(60)]
    base = b.fds()
    conns = []
    for sid in sids:
        conn = socket.create_connection(("127.0.0.1", b.port), timeout=TIMEOUT)
        conn.sendall(f"GET /socket.io/1/xhr-polling/{sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        conns.append(conn)
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:  # b's descriptors while the polls are held
        while not done.wait(0.02):
            samples.append(b.fds() - base)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    statuses: list[int | str] = []
    for conn in conns:
        with conn:
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    more = conn.recv(65536)
                    if not more:
                        break
                    data += more
            except ConnectionResetError:
                # (refused at once: the request arrived after the 503 was sent and closed)
                statuses.append("reset")
                continue
            # (0: closed unanswered, to make room, while it waited for its head)
            statuses.append(status_of(data))
    done.set()
    sampler.join()
    assert set(statuses) <= {200, 503, "reset", 0}, statuses
    held = statuses.count(200)
    assert 0 < held <= 40, statuses
    # each held poll: the client's connection and one to the owner
    assert held <= max(samples) <= 2 * 40 + 5, max(samples)
    a.assert_quiet_log()
    b.assert_quiet_log()


def test_the_owner_holds_no_more_forwarded_polls_than_max_connections(nodes) -> None:
    a, b = nodes(tcp=False, max_connections=20, polling_duration=3)
    # (counted before the sessions open: the connection that opened the last
    # one may still be closing afterwards)
    base_a = a.fds()
    sids = [opened(a) for _ in range(30)]
    conns = []
    try:
        for sid in sids[:20]:  # misrouted through b: a's 20 connections are forwards
            conn = socket.create_connection(("127.0.0.1", b.port), timeout=TIMEOUT)
            conn.sendall(f"GET /socket.io/1/xhr-polling/{sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            conns.append(conn)
        wait_for(lambda: a.fds() - base_a >= 20, TIMEOUT, "a to hold 20 forwarded polls")
        for sid in sids[20:]:  # more, misrouted or direct: refused, 503, as any connection
            entry = b.port if len(conns) % 2 else a.port
            answer = raw_exchange(
                entry, f"GET /socket.io/1/xhr-polling/{sid} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            )
            assert status_of(answer) == 503, answer
            conns.append(socket.socket())
        assert a.fds() - base_a <= 20 + 3
    finally:
        for conn in conns:
            conn.close()


def test_a_kept_connection_closed_as_it_is_taken_is_replaced_not_taken_for_a_dead_owner(
    nodes,
) -> None:
    """The owner closes a kept-alive connection right after reading the next request."""
    _, b = nodes()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    sid = owned_by(address)
    proof = owner_signature(SECRET, sid).encode()
    connections = []

    def read_request(conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            more = conn.recv(65536)
            if not more:
                return b""
            data += more
        return data

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(conn)
            if read_request(conn):  # the first request on a connection: answered
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Socketio-Owner: "
                    + proof
                    + b"\r\n\r\n8::"
                )
            if read_request(conn):  # the second: read, then the connection closed
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        for _ in range(3):
            resp = requests.get(b.poll_url(sid), timeout=TIMEOUT)
            assert (resp.status_code, resp.text) == (200, "8::")
        assert len(connections) == 3  # (one kept, then replaced, each time)
    finally:
        listener.close()
        for conn in connections:
            conn.close()
    b.assert_quiet_log()


def _breaks_midway(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n8::\r\nzz\r\n")


def test_a_stream_that_breaks_off_at_its_owner_is_cut_short_not_ended(nodes) -> None:
    from tests.client09.http import RawStream

    _, b = nodes()
    owner = FakeOwner(_breaks_midway)
    try:
        stream = RawStream(b.poll_url(owned_by(owner.address)))
        try:
            assert stream.status == 200
            assert stream.read_chunk() == b"8::"
            with pytest.raises(EOFError):  # (no last chunk: the connection just closes)
                stream.read_chunk()
        finally:
            stream.close()
    finally:
        owner.close()
    b.assert_quiet_log()
