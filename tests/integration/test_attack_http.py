"""HTTP attacks against a real server process: each limit holds, and the others keep being served.

Issue 17, HTTP connections: request-head, keep-alive and body timeouts (a
slowloris, an idle connection, a stalled upload), the connection cap (1,100
slowloris connections against a 1,024 file descriptor limit, a full file
table), strict framing (a bad chunk, both lengths, every desync class: one
answer, then the connection closes, and what followed is never served),
bounded heads, quiet logs, and a pipelining flood that does not stall a
websocket client. The server is ``attack_http_app.py`` in a subprocess, with
short timeouts so that the tests stay quick; bounds on time are generous.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import socket
import struct
import threading
import time
import urllib.request

import pytest
import requests

from tests.client09.handshake import handshake
from tests.client09.raw import read_answer
from tests.client09.waiting import wait_for
from tests.client09.websocket import WebSocketClient

from .conftest import LiveServer

TIMEOUT = 5


class AttackServer(LiveServer):
    """``tests/integration/attack_http_app.py`` in a subprocess, started at once, its log in a file."""

    module = "tests.integration.attack_http_app"

    def __init__(self, log_dir: pathlib.Path, **options: object) -> None:
        super().__init__(**options)
        self.log_path = log_dir / f"attack-{self.port}.log"
        self.start()

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/_stats", timeout=TIMEOUT) as resp:
            return json.loads(resp.read())

    def cpu_seconds(self) -> float:
        fields = pathlib.Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)

    def handshake(self) -> str:
        return handshake(self.url).sid

    def fds(self) -> int:
        """The server's open file descriptors, read from ``/proc``."""
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def held_connections(self, clients: list[socket.socket] | None = None) -> int:
        """TCP connections the server process holds a descriptor for (read from ``/proc``).

        Only those from ``clients`` when given; listening sockets never count.
        """
        inodes = set()
        for fd in pathlib.Path(f"/proc/{self.proc.pid}/fd").iterdir():
            try:
                link = os.readlink(fd)
            except OSError:  # closed meanwhile
                continue
            if link.startswith("socket:["):
                inodes.add(link[len("socket:[") : -1])
        ports = None if clients is None else {sock.getsockname()[1] for sock in clients}
        count = 0
        with open("/proc/net/tcp") as table:
            next(table)
            for line in table:
                fields = line.split()
                listening = fields[3] == "0A"
                if listening or fields[9] not in inodes:
                    continue
                if ports is None or int(fields[2].split(":")[1], 16) in ports:
                    count += 1
        return count

    def polling_session(self) -> str:
        sid = self.handshake()
        resp = requests.get(f"{self.url}/socket.io/1/xhr-polling/{sid}", timeout=TIMEOUT)
        assert resp.text == "1::"
        return sid

    def assert_quiet_log(self) -> None:
        """No traceback, no ERROR line, and no line longer than a clipped one."""
        text = self.log()
        assert "Traceback" not in text, text[-3000:]
        assert not [line for line in text.splitlines() if line.startswith(("ERROR", "CRITICAL"))]
        assert max((len(line) for line in text.splitlines()), default=0) < 600


@pytest.fixture
def make_server(tmp_path):
    servers: list[AttackServer] = []

    def make(**options: object) -> AttackServer:
        server = AttackServer(tmp_path, **options)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def timed(tmp_path_factory):
    """A server with one-second head and keep-alive timeouts and a 1.5 s body timeout."""
    server = AttackServer(
        tmp_path_factory.mktemp("timed"),
        head_timeout=1,
        keepalive_timeout=1,
        body_timeout=1.5,
        polling_duration=3,
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A server with the default settings."""
    server = AttackServer(tmp_path_factory.mktemp("plain"))
    yield server
    server.assert_quiet_log()
    server.stop()


def read_until_closed(sock: socket.socket, wait: float = TIMEOUT) -> tuple[bytes, bool]:
    """What the server sends until it closes (True) or ``wait`` passes (False)."""
    sock.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:  # (TimeoutError from 3.10; not yet on PyPy 3.9)
            continue
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def statuses(data: bytes) -> list[int]:
    """The status codes of the responses in ``data`` (no body here holds a status line)."""
    return [int(code) for code in re.findall(rb"HTTP/1\.[01] (\d{3}) ", data)]


def trickle(sock: socket.socket, data: bytes, pause: float, until: float) -> bool:
    """Send ``data`` a byte at a time; whether the server closed the connection meanwhile."""
    for byte in data:
        if time.monotonic() > until:
            return False
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return True
        time.sleep(pause)
    return False


# -- timeouts ------------------------------------------------------------------------


def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(timed):
    sock = timed.connect()
    started = time.monotonic()
    data, closed = read_until_closed(sock, 6)
    assert closed
    assert data == b""
    assert 0.8 < time.monotonic() - started < 4


def test_a_slowloris_head_is_closed_although_it_keeps_sending(timed):
    sock = timed.connect()
    sock.sendall(b"GET /socket.io/1/ HTTP/1.1\r\n")  # then one header byte every 0.2 s
    started = time.monotonic()
    head = b"X-Slow: " + b"a" * 100 + b"\r\n\r\n"
    cut = trickle(sock, head, 0.2, started + 8)
    data, closed = read_until_closed(sock, 1)
    assert cut or closed
    assert data == b""
    assert time.monotonic() - started < 5


def test_an_idle_keepalive_connection_is_closed(timed):
    sock = timed.connect()
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    started = time.monotonic()
    data, closed = read_until_closed(sock, 6)
    assert statuses(data) == [200]
    assert closed
    assert 0.8 < time.monotonic() - started < 4


def test_a_keepalive_connection_in_use_stays_open(timed):
    sock = timed.connect()
    for _ in range(6):  # 3 s in all, longer than every timeout, each wait shorter
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data, closed = read_until_closed(sock, 0.5)
        assert statuses(data) == [200]
        assert not closed
    sock.close()


@pytest.mark.parametrize("route", ["polling", "application"])
def test_a_stalled_body_gets_408_and_is_closed(timed, route):
    if route == "polling":
        path = f"/socket.io/1/xhr-polling/{timed.polling_session()}"
    else:
        path = "/upload"
    sock = timed.connect()
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode()
        + b"x" * 50_000
    )
    started = time.monotonic()
    data, closed = read_until_closed(sock, 8)
    assert statuses(data) == [408], data
    assert closed, data
    assert time.monotonic() - started < 5
    timed.assert_quiet_log()


def test_forty_stalled_uploads_are_all_closed(timed):
    """40 POSTs announce 10 MB, send 512 KB and stall: every one is closed, the fds come back."""
    before = timed.stats()["fds"]
    socks = []
    for _ in range(40):
        sock = timed.connect()
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n")
        sock.sendall(b"x" * 524288)
        socks.append(sock)
    deadline = time.monotonic() + 10
    for sock in socks:
        data, closed = read_until_closed(sock, max(deadline - time.monotonic(), 0.1))
        assert closed
        assert statuses(data) == [408]
        sock.close()
    assert timed.stats()["fds"] <= before + 2
    timed.assert_quiet_log()


def test_a_websocket_outlives_the_http_timeouts(timed):
    client = WebSocketClient(timed.url)
    time.sleep(3)  # idle longer than the head, keep-alive and body timeouts
    assert client.call("", "echo", "still here") == ["still here"]
    client.close()


def test_a_held_polling_get_is_not_cut(timed):
    sid = timed.polling_session()
    started = time.monotonic()
    resp = requests.get(f"{timed.url}/socket.io/1/xhr-polling/{sid}", timeout=10)
    assert resp.status_code == 200
    assert resp.text == "8::"
    assert time.monotonic() - started > 2.5


# -- framing -------------------------------------------------------------------------

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("route", ["polling", "application"])
def test_a_bad_chunk_is_refused_and_what_follows_never_served(plain, route):
    path = (
        f"/socket.io/1/xhr-polling/{plain.polling_session()}" if route == "polling" else "/upload"
    )
    sock = plain.connect()
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        + b"zz\r\nabc\r\n0\r\n\r\n"
        + SMUGGLED
    )
    data, closed = read_until_closed(sock)
    assert statuses(data) == [400], data
    assert closed, data


def test_both_lengths_are_served_by_the_chunks_then_the_connection_closes(plain):
    sock = plain.connect()
    sock.sendall(
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n" + SMUGGLED
    )
    data, closed = read_until_closed(sock)
    assert statuses(data) == [200], data
    assert data.endswith(b"read 3"), data
    assert closed, data


DESYNC = [
    (b"Content-Length: 3\r\nContent-Length: 13", 400),
    (b"Content-Length: 3, 13", 400),
    (b"Content-Length: +3", 400),
    (b"Content-Length: 0x3", 400),
    (b"Content-Length: 3 3", 400),
    (b"Content-Length: 123456789012345678901234567890", 400),
    (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity", 400),
    (b"Transfer-Encoding: xchunked", 400),
    (b"Transfer-Encoding: chunked\x0b", 400),
    (b"Transfer-Encoding: gzip, chunked", 501),
    (b"Transfer-Encoding:\r\n chunked", 400),  # obs-fold
    (b"X: a\nTransfer-Encoding: chunked", 400),  # a bare LF
    (b"X: a\rTransfer-Encoding: chunked", 400),  # a bare CR
    (b"Transfer-Encoding : chunked", 400),
    (b"X: \x00", 400),
]


@pytest.mark.parametrize(("headers", "status"), DESYNC)
def test_an_ambiguous_request_gets_one_answer_and_a_close(plain, headers, status):
    sock = plain.connect()
    sock.sendall(
        b"POST /upload HTTP/1.1\r\nHost: x\r\n"
        + headers
        + b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        + SMUGGLED
    )
    data, closed = read_until_closed(sock)
    assert statuses(data) == [status], data
    assert closed, data


@pytest.mark.parametrize(
    "request_line",
    [
        b"GET /a b HTTP/1.1",
        b"GET / HTTP/1.1 ",
        b"GET\t/ HTTP/1.1",
        b"GET /\x1b[2J HTTP/1.1",
        b"GET /",
    ],
)
def test_a_malformed_request_line_gets_400(plain, request_line):
    sock = plain.connect()
    sock.sendall(request_line + b"\r\nHost: x\r\n\r\n")
    data, closed = read_until_closed(sock)
    assert statuses(data) == [400], data
    assert closed, data


def test_a_head_of_over_64_kib_gets_431(plain):
    sock = plain.connect()
    lines = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
    try:
        sock.sendall(b"GET /socket.io/1/ HTTP/1.1\r\nHost: x\r\n" + lines + b"\r\n")
    except OSError:
        pass  # closed before it all went: the answer is already there
    data, closed = read_until_closed(sock)
    assert statuses(data) == [431], data
    assert closed, data


def test_an_aborted_upload_is_quiet(plain):
    for path in ("/upload", f"/socket.io/1/xhr-polling/{plain.polling_session()}"):
        sock = plain.connect()
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode())
        sock.sendall(b"x" * 30_000)
        time.sleep(0.1)  # the test: the reset comes while the server reads the body
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset mid-body
    wait_for(lambda: plain.stats()["connections"] <= 1, what="the reset connections to end")
    assert plain.handshake()
    plain.assert_quiet_log()


def test_pipelined_requests_are_answered_in_order(plain):
    sock = plain.connect()
    sock.sendall(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 3
        + b"GET /socket.io/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    data, closed = read_until_closed(sock)
    assert statuses(data) == [200] * 4
    assert closed
    assert data.endswith(b"Welcome to socket.io.")


def test_client_text_in_the_log_is_clipped(plain):
    sock = plain.connect()
    sock.sendall(b"GET /" + b"a" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    data, _ = read_until_closed(sock, 1)
    assert statuses(data) == [200]
    logged = wait_for(
        lambda: [line for line in plain.log().splitlines() if "aaaa" in line], what="the log line"
    )
    assert max(len(line) for line in logged) < 400


# -- the connection cap ----------------------------------------------------------------


def test_past_the_cap_the_longest_waiting_connection_makes_room(make_server):
    server = make_server(max_connections=8)
    idle = [server.connect() for _ in range(8)]
    wait_for(lambda: server.held_connections(idle) == 8, what="the server to accept all 8")
    assert server.handshake()  # room made by closing the oldest idle one
    data, closed = read_until_closed(idle[0], 2)
    assert closed
    assert data == b""
    server.assert_quiet_log()


def test_past_the_cap_with_nothing_to_drop_a_new_connection_gets_503(make_server):
    server = make_server(max_connections=4)
    clients = [
        WebSocketClient(server.url) for _ in range(3)
    ]  # + the one the handshake used, closed
    # the handshakes' connections, closed by the client, are gone at the server
    wait_for(lambda: server.held_connections() == 3, what="only the websockets to be left")
    clients.append(WebSocketClient(server.url))
    sock = server.connect()
    sock.sendall(b"GET /socket.io/1/ HTTP/1.1\r\nHost: x\r\n\r\n")
    data, closed = read_until_closed(sock)
    assert statuses(data) == [503]
    assert closed
    clients.pop().close()
    wait_for(lambda: server.held_connections() == 3, what="the closed websocket to end")
    assert server.handshake()
    for client in clients:
        assert client.call("", "echo", 1) == [1]
        client.close()


def test_a_slowloris_of_1100_connections_against_1024_fds_leaves_handshakes_served(make_server):
    """The issue's attack: every fd taken once, and every new handshake refused. No longer."""
    server = make_server(nofile=1024)  # max_connections: automatic, 1024 - 128
    socks: list[socket.socket] = []
    stop = threading.Event()

    def attack() -> None:
        for _ in range(1100):
            try:
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
                sock.sendall(b"G")
                socks.append(sock)
            except OSError:
                pass
        while not stop.wait(1):  # one byte per second on each
            for sock in list(socks):
                try:
                    sock.send(b"E")
                except OSError:
                    socks.remove(sock)

    thread = threading.Thread(target=attack, daemon=True)
    thread.start()
    try:
        time.sleep(2)  # the test: the attack has every fd it can take
        for _ in range(5):
            assert server.handshake()
            client = WebSocketClient(server.url)
            assert client.call("", "echo", "ok") == ["ok"]
            client.close()
        stats = server.stats()
        assert stats["fds"] < 1024
        assert stats["connections"] <= 1024 - 128 + 1
    finally:
        stop.set()
        thread.join(5)
        for sock in socks:
            sock.close()
    assert "Too many open files" not in server.log()
    server.assert_quiet_log()


def test_out_of_file_descriptors_the_accept_loop_does_not_spin(make_server):
    server = make_server(nofile=64, max_connections=1000)  # a cap the fds cannot honour
    socks = []
    for _ in range(100):
        try:
            socks.append(server.connect())
        except OSError:
            break
    # every fd it may have, near enough (it may free one for a moment)
    wait_for(lambda: server.fds() >= 60, what="the server to run out of fds")
    cpu = server.cpu_seconds()
    time.sleep(2)  # the test: how much CPU the server takes meanwhile
    assert server.cpu_seconds() - cpu < 0.5  # (a spinning loop would take the whole 2 s)
    for sock in socks:
        sock.close()
    wait_for(lambda: server.held_connections() == 0, what="the server to close them")
    assert server.handshake()
    assert "Traceback" not in server.log()


# -- fairness --------------------------------------------------------------------------


def test_a_pipelining_flood_does_not_stall_a_websocket_client(make_server):
    server = make_server()
    client = WebSocketClient(server.url)
    flood = server.connect()
    requests_bytes = b"GET /socket.io/ HTTP/1.1\r\nHost: x\r\n\r\n" * 30_000
    received = [0]
    done = threading.Event()

    def send() -> None:
        try:
            flood.sendall(requests_bytes)
        except OSError:
            pass

    def read() -> None:
        flood.settimeout(10)
        try:
            while received[0] < 30_000:
                chunk = flood.recv(1 << 20)
                if not chunk:
                    break
                received[0] += chunk.count(b"HTTP/1.1 200")
        except OSError:
            pass
        done.set()

    threads = [
        threading.Thread(target=send, daemon=True),
        threading.Thread(target=read, daemon=True),
    ]
    for thread in threads:
        thread.start()
    while received[0] < 1000 and not done.is_set():
        time.sleep(0.01)
    worst = 0.0
    answered_during_flood = 0
    for n in range(10):
        started = time.monotonic()
        assert client.call("", "echo", n, msgid=n + 1) == [n]
        worst = max(worst, time.monotonic() - started)
        if not done.is_set():
            answered_during_flood += 1
    done.wait(30)
    assert received[0] == 30_000
    assert answered_during_flood >= 3, "the flood ended before the client was answered"
    assert worst < 0.5
    client.close()
    flood.close()


def _get(target: bytes) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n"


def test_held_polls_ending_together_are_each_answered_and_others_served(make_server):
    """Polls read in one turn share one deadline; they end a bounded number per turn.

    (That bound is checked in ``tests/unit/test_deadlines.py``; what another
    client waits meanwhile is measured in ``benchmarks/attacks/polls.py``.)
    Here, on the wire: every poll gets its ``8::`` once, its session lives
    on, and a websocket client is answered throughout.
    """
    server = make_server(polling_duration=1)
    count = 400
    polls = []
    for _ in range(count):
        sid = server.handshake()
        sock = server.connect()
        target = f"/socket.io/1/xhr-polling/{sid}".encode()
        sock.sendall(_get(target))
        assert read_answer(sock, b"")[0] == b"1::"
        polls.append((sock, target))
    client = WebSocketClient(server.url)
    for sock, target in polls:  # held, all at once
        sock.sendall(_get(target))
    worst, n = 0.0, 0
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        n += 1
        started = time.monotonic()
        assert client.call("", "echo", n, msgid=n) == [n]
        worst = max(worst, time.monotonic() - started)
    for sock, _ in polls:
        body, rest = read_answer(sock, b"")
        assert (body, rest) == (b"8::", b"")
    assert worst < 0.5
    # each session lives on: its next poll is held again, and answered by a POST
    sock, target = polls[0]
    sock.sendall(_get(target))
    sid = target.rsplit(b"/", 1)[1].decode()
    echo = b'5:1+::{"name":"echo","args":["still here"]}'
    url = f"{server.url}/socket.io/1/xhr-polling/{sid}"
    assert requests.post(url, data=echo, timeout=TIMEOUT).text == "1"
    assert read_answer(sock, b"")[0] == b'6:::1+["still here"]'
    for sock, _ in polls:
        sock.close()
    client.close()
    server.assert_quiet_log()


# -- chunked bodies --------------------------------------------------------------------


def test_a_chunked_upload_is_read(plain):
    sock = plain.connect()
    sock.sendall(
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    data, closed = read_until_closed(sock)
    assert statuses(data) == [200, 200]
    assert b"read 11" in data
    assert closed


@pytest.mark.parametrize(
    "body",
    [
        b"0\r\n" + b"X-Trailer: v\r\n" * 1000 + b"\r\n",  # trailers without end
        b"".join(b"1;" + b"e" * 500 + b"\r\nx\r\n" for _ in range(200)) + b"0\r\n\r\n",
        b"".join(b"1\r\nx\r\n" for _ in range(100_000)) + b"0\r\n\r\n",
    ],
    ids=["endless-trailers", "long-extensions", "one-byte-chunks"],
)
@pytest.mark.parametrize("route", ["polling", "application"])
def test_an_abusive_chunked_body_is_refused_early(plain, body, route):
    path = (
        f"/socket.io/1/xhr-polling/{plain.polling_session()}" if route == "polling" else "/upload"
    )
    sock = plain.connect()
    try:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + body
        )
    except OSError:
        pass  # refused before it all went
    data, closed = read_until_closed(sock)
    assert statuses(data) == [400], data
    assert closed, data


def test_bodies_being_read_are_bounded_per_process(make_server):
    """Past ``max_total_body_size`` of bodies being read, a large POST gets 503; small ones pass."""
    server = make_server(max_total_body_size=1_000_000, body_timeout=3)
    sid = server.polling_session()
    path = f"/socket.io/1/xhr-polling/{sid}"
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 600000\r\n\r\n".encode()
    first = server.connect()
    first.sendall(head + b"x" * 100_000)  # counted: 600,000 bytes, then it stalls
    time.sleep(0.3)
    second = server.connect()
    second.sendall(head + b"x" * 100_000)
    data, closed = read_until_closed(second, 5)
    assert statuses(data) == [503], data
    assert closed, data
    small = server.connect()
    small.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n2::".encode())
    data, _ = read_until_closed(small, 0.5)
    assert statuses(data) == [200], data
    data, closed = read_until_closed(first, 8)  # the stalled one times out, and is uncounted
    assert statuses(data) == [408]
    assert closed
    again = server.connect()
    again.sendall(head + b"2::" + b" " * (600_000 - 3))
    data, _ = read_until_closed(again, 2)
    assert statuses(data) != [503], data
    server.assert_quiet_log()
