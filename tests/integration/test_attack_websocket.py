"""One hostile websocket client must not hurt anyone else (issue 17, the websocket's part).

Each test is an attack on a live server process, next to a well-behaved
client that must keep being served:

- fragments: a message of empty or 1-byte fragments is refused past
  ``max_message_frames`` (1009), a frame trickled in tiny TCP segments costs
  about its own size, never tens of bytes per byte;
- CPU: a connection whose socket always has data (a flood of heartbeats, of
  pings from a client that never reads its pongs) is served in turns, so
  another client's round trip and a new handshake are answered while the
  flood goes on;
- close frames with a code no peer may send (5000, 1005...), a 1-byte
  payload, fail the connection with 1002 instead of being echoed;
- an idle session keeps nothing of the big message it last sent.

The limits are generous on purpose: this is a 2-core machine shared with
other test suites.
"""

from __future__ import annotations

import gc
import json
import socket
import struct
import threading
import time
from typing import Any

import pytest

from tests.client09.handshake import handshake
from tests.client09.http import wait_read
from tests.client09.raw import read_until, upgrade_request
from tests.client09.websocket import WebSocketClient

from ..wsframes import client_frame as frame
from .conftest import LiveServer
from .observe import kept_mib, wait_gone

MAX_MESSAGE = 1 << 20
MAX_FRAMES = 1024
MAX_QUEUE_BYTES = 4 << 20


@pytest.fixture(scope="module")
def server():
    server = LiveServer(
        heartbeat_interval=5,
        heartbeat_timeout=10,
        max_message_size=MAX_MESSAGE,
        config=json.dumps({"max_message_frames": MAX_FRAMES, "max_queue_bytes": MAX_QUEUE_BYTES}),
    ).start()
    yield server
    server.stop()


@pytest.fixture
def good(server):
    """A well-behaved websocket client of the same server."""
    client = WebSocketClient(server.url)
    yield client
    client.close()


def kept(server: LiveServer) -> int:
    """What the server references, in bytes (see ``observe.kept_mib``)."""
    return int(kept_mib(server) * 2**20)


def upgrade(server: LiveServer) -> tuple[socket.socket, str]:
    """A websocket opened by hand (``1::`` read); returns the socket and the session id."""
    sid = handshake(server.url).sid
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.sendall(upgrade_request(server.port, sid))
    data = read_until(conn, b"1::")
    assert data.startswith(b"HTTP/1.1 101"), data
    return conn, sid


def close_code(conn: socket.socket, timeout: float = 10) -> int | None:
    """Read what the server sends until its close frame; that frame's code (None: no close)."""
    conn.settimeout(timeout)
    data = b""
    while True:
        at = 0
        while at + 2 <= len(data):  # walk the frames received so far
            opcode, n = data[at] & 0x0F, data[at + 1] & 0x7F
            head = 2
            if n == 126:
                if at + 4 > len(data):
                    break
                n, head = struct.unpack("!H", data[at + 2 : at + 4])[0], 4
            elif n == 127:
                if at + 10 > len(data):
                    break
                n, head = struct.unpack("!Q", data[at + 2 : at + 10])[0], 10
            if opcode == 8 and at + head + 2 <= len(data):
                return struct.unpack("!H", data[at + head : at + head + 2])[0]
            at += head + n
        try:
            chunk = conn.recv(1 << 20)
        except (ConnectionResetError, socket.timeout):
            return None
        if not chunk:
            return None
        data += chunk


class Flood(threading.Thread):
    """Sends ``blob`` over a websocket again and again, as fast as the server takes it.

    ``sent`` counts the bytes the kernel took; :attr:`ended` is set when the
    server closed the connection. With ``read=False`` nothing the server
    sends is read (a client that lets pongs and answers pile up).
    """

    def __init__(self, server: LiveServer, blob: bytes, first: bytes = b"", read: bool = True):
        super().__init__(daemon=True)
        self.conn, self.sid = upgrade(server)
        self.blob = first + blob
        self.rest = blob
        self.read = read
        self.sent = 0
        self.stop = threading.Event()
        self.ended = threading.Event()
        if read:
            threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while not self.stop.is_set():
            try:
                if not self.conn.recv(1 << 20):
                    return
            except socket.timeout:  # (TimeoutError from 3.10; not yet on PyPy 3.9)
                continue
            except OSError:
                return

    def run(self) -> None:
        blob = self.blob
        self.conn.settimeout(0.2)
        try:
            while not self.stop.is_set():
                try:
                    self.sent += self.conn.send(blob)
                except socket.timeout:  # (TimeoutError from 3.10; not yet on PyPy 3.9)
                    continue
                blob = self.rest
        except OSError:
            pass
        self.ended.set()

    def __enter__(self) -> Flood:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.join(5)
        self.conn.close()

    def still_running(self, within: float = 1.0) -> bool:
        """The server is still taking its bytes: ``sent`` grows within ``within`` seconds."""
        before = self.sent
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.sent > before:
                return True
            time.sleep(0.01)
        return False


def round_trip(client: WebSocketClient, msgid: int) -> float:
    """Seconds an echo with ack takes the good client."""
    started = time.monotonic()
    assert client.call("", "echo", "fair", msgid=msgid) == ["fair"]
    return time.monotonic() - started


# -- CPU: a connection whose socket always has data ----------------------------------


@pytest.mark.parametrize(
    ("blob", "read"),
    [
        (frame(b"2::", mask=b"\0\0\0\0") * 20_000, True),
        (frame(b"p" * 125, opcode=9, mask=b"\0\0\0\0") * 2_000, False),
        (frame(b"", opcode=9, mask=b"\0\0\0\0") * 20_000, True),
    ],
    ids=["heartbeats", "pings-never-read", "empty-pings"],
)
def test_a_flood_on_one_connection_leaves_the_others_served(server, good, blob, read):
    before = kept(server)
    with Flood(server, blob, read=read) as flood:
        time.sleep(0.5)  # the test: the flood is in full swing
        assert flood.still_running()
        took = [round_trip(good, msgid) for msgid in range(1, 6)]
        started = time.monotonic()
        assert handshake(server.url).sid
        handshake_took = time.monotonic() - started
        # answered while the flood goes on, not after it
        assert flood.still_running()
        assert not flood.ended.is_set()
        time.sleep(1.0)  # the test: a second more of flood
        grown = kept(server) - before
    assert max(took) < 2.0, took
    assert handshake_took < 2.0
    # pongs for a client that never reads them do not pile up
    assert grown < 32 << 20, grown
    assert "Traceback" not in server.log()


def test_an_empty_fragment_flood_is_refused_and_others_stay_served(server, good):
    before = kept(server)
    started = time.monotonic()
    with Flood(
        server,
        frame(b"", opcode=0, fin=False, mask=b"\0\0\0\0") * 10_000,
        first=frame(b"5:::", fin=False),
        read=False,
    ) as flood:
        assert close_code(flood.conn) == 1009
        refused_after = time.monotonic() - started
        wait_gone(server, flood.sid)
    assert refused_after < 5
    assert kept(server) - before < 16 << 20
    assert round_trip(good, 1) < 2.0


# -- memory: fragments and trickles ---------------------------------------------------


def test_one_byte_fragments_are_refused_past_the_frame_limit(server, good):
    conn, sid = upgrade(server)
    fragments = frame(b"5", fin=False) + frame(b"x", opcode=0, fin=False) * (MAX_FRAMES + 10)
    conn.sendall(fragments)
    assert close_code(conn) == 1009
    conn.close()
    wait_gone(server, sid)
    assert round_trip(good, 1) < 2.0


def test_a_frame_sent_in_tiny_segments_costs_about_its_size(server, good):
    conn, sid = upgrade(server)
    size = MAX_MESSAGE - 1000
    data = frame(b"3:::" + b"t" * (size - 4), mask=b"\0\0\0\0")
    before = kept(server)
    sent = 0
    stop = time.monotonic() + 10
    # 3 bytes per TCP segment (TCP_NODELAY): as many reads as the server
    # can make, each a few bytes; all but the frame's last byte
    while sent < len(data) - 1 and time.monotonic() < stop:
        sent += conn.send(data[sent : min(sent + 3, len(data) - 1)])
    wait_read(conn)
    grown = kept(server) - before
    assert round_trip(good, 1) < 2.0
    conn.sendall(data[sent:])
    conn.sendall(frame(b"2::"))
    conn.close()
    wait_gone(server, sid)
    # the frame held once (and slack): not tens of bytes per byte trickled
    assert grown < 2 * MAX_MESSAGE + (8 << 20), (grown, sent)


def test_a_flood_while_a_handler_waits_is_not_read_ahead_without_bound(server, good):
    conn, sid = upgrade(server)
    conn.sendall(frame(b"1::/life"))
    data = b""
    while b"1::/life" not in data:
        data += conn.recv(4096)
    # the handler waits 3 s in place: reading goes on in another greenlet
    conn.sendall(frame(b'5:1+:/life:{"name":"wait","args":[3]}'))
    wait_read(conn)  # and the handler, called on the frame's reading, waits
    before = kept(server)
    big = frame(b"3::/life:" + b"q" * (MAX_MESSAGE - 100), mask=b"\0\0\0\0")
    conn.settimeout(0.1)
    sent = 0
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            sent += conn.send(big)
        except socket.timeout:  # (TimeoutError from 3.10; not yet on PyPy 3.9)
            pass
    grown = kept(server) - before
    assert round_trip(good, 1) < 2.0
    conn.close()
    wait_gone(server, sid)
    # what was read ahead of the handler: about max_queue_bytes, not the flood
    assert grown < 8 * MAX_QUEUE_BYTES + (16 << 20), (grown, sent)


# -- close frames ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (struct.pack("!H", 5000), 1002),
        (struct.pack("!H", 65535) + b"why", 1002),
        (struct.pack("!H", 1005), 1002),
        (struct.pack("!H", 1004), 1002),
        (struct.pack("!H", 2999), 1002),
        (struct.pack("!H", 999), 1002),
        (b"\x03", 1002),
        (struct.pack("!H", 1000) + b"\xc3\x28", 1007),
        (struct.pack("!H", 4000) + b"bye", 4000),
        (struct.pack("!H", 1001), 1001),
    ],
    ids=[
        "5000",
        "65535",
        "1005",
        "1004",
        "2999",
        "999",
        "1-byte",
        "reason-not-utf8",
        "4000",
        "1001",
    ],
)
def test_a_close_frame_with_a_code_no_peer_may_send_fails_with_1002(server, payload, code):
    conn, sid = upgrade(server)
    offset = len(server.log())
    conn.sendall(frame(payload, opcode=8))
    assert close_code(conn) == code
    conn.close()
    wait_gone(server, sid)
    assert "Traceback" not in server.log()[offset:]


# -- memory: what an idle session keeps ------------------------------------------------


@pytest.mark.cpython_only  # (tracemalloc; on PyPy test_leaks bounds the process's memory)
def test_an_idle_session_keeps_nothing_of_its_last_big_message():
    """In this process (tracemalloc): 8 MB sent, answered, then the session waits."""
    import tracemalloc

    import gevent

    import socketio
    from socketio.namespace import BaseNamespace
    from socketio.server import SocketIOServer
    from tests.client09.raw import raw_websocket

    class Sizes(BaseNamespace):
        def on_size(self, text):
            return len(text)

    def application(environ: dict, start_response: Any) -> list[bytes]:
        socketio.socketio_manage(environ, {"": Sizes})
        return []

    server = SocketIOServer(
        ("127.0.0.1", 0), application, policy_server=False, log=None, max_message_size=16 << 20
    )
    server.start()
    size = 8 << 20
    message = frame(b'5:2+::{"name":"size","args":["' + b"m" * size + b'"]}', mask=b"\0\0\0\0")

    def round_trip(conn: Any, msgid: int) -> None:
        conn.sendall(frame(b'5:%d+::{"name":"size","args":["x"]}' % msgid, mask=b"\0\0\0\0"))
        answer = b""
        with gevent.Timeout(5):
            while b"6:::%d+[1]" % msgid not in answer:
                answer += conn.recv(4096)

    try:
        conn = raw_websocket(server.server_port)
        round_trip(conn, 1)  # the session is settled and waits for messages
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            conn.sendall(message)
            del message
            answer = b""
            with gevent.Timeout(20):
                while b"6:::2+[%d]" % size not in answer:
                    answer += conn.recv(4096)
            # once a later message is answered, the session is done with the
            # big one and waits for its next message
            round_trip(conn, 3)
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        # the message was 8 MB: nothing of it is left (a few KiB of
        # bookkeeping are)
        assert kept < 256 << 10, kept
        conn.close()
    finally:
        server.stop()
