"""BoundedWebSocket's writing over a real socket pair: when frames reach the kernel."""

from __future__ import annotations

import struct
import types

import gevent
import gevent.socket
import pytest
from geventwebsocket.websocket import Stream

from socketio import fairness, wsconn, wsframe
from socketio.exceptions import FrameError

from ..wsframes import client_frame
from .fake_server import wait_until


@pytest.fixture
def pair():
    ours, peer = gevent.socket.socketpair()
    handler = types.SimpleNamespace(socket=ours, rfile=ours.makefile("rb"))
    websocket = wsconn.BoundedWebSocket({}, Stream(handler), handler, 1 << 20)
    peer.setblocking(False)
    yield websocket, peer
    ours.close()
    peer.close()


def _pending(peer) -> bytes:
    """What the kernel has delivered to the peer so far, without waiting."""
    chunks = []
    while True:
        try:
            chunk = peer.recv(1 << 20)
        except BlockingIOError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_first_frame_of_a_turn_is_sent_at_once_the_rest_when_the_turn_ends(pair):
    websocket, peer = pair
    frames = [wsframe.text_frame(f"5:::{i}") for i in range(3)]
    gevent.sleep(0.001)  # the test: a turn of the loop of its own (nothing held yet)
    for frame in frames:
        websocket.offer(frame)
    assert _pending(peer) == frames[0]
    gevent.sleep(0)  # the turn ends
    assert _pending(peer) == frames[1] + frames[2]
    assert websocket.backlog == 0


def test_close_and_send_write_what_is_held_first(pair):
    websocket, peer = pair
    frames = [wsframe.text_frame(f"5:::{i}") for i in range(3)]
    gevent.sleep(0.001)  # the test: a turn of the loop of its own
    for frame in frames:
        websocket.offer(frame)
    websocket.send("last")
    assert _pending(peer) == b"".join(frames) + wsframe.text_frame("last")
    websocket.offer(frames[0])
    websocket.close(1000, "bye")
    assert _pending(peer) == frames[0] + wsframe.encode_frame(b"\x03\xe8bye", 0x8)
    assert websocket.closed


def test_past_the_cork_size_held_frames_are_sent_without_waiting(pair):
    websocket, peer = pair
    frame = wsframe.text_frame("x" * 1000)
    gevent.sleep(0.001)  # the test: a turn of the loop of its own
    count = wsconn.CORK_SIZE // len(frame) + 2
    received = b""
    for _ in range(count):
        websocket.offer(frame)
        received += _pending(peer)
    assert len(received) >= len(frame) * (count - 1)
    gevent.sleep(0)
    assert received + _pending(peer) == frame * count


def test_a_failed_write_drops_what_is_held(pair):
    websocket, peer = pair
    gevent.sleep(0.001)  # the test: a turn of the loop of its own
    websocket.offer(wsframe.text_frame("sent"))
    peer.close()
    websocket.offer(wsframe.text_frame("held"))  # written when the turn ends: EPIPE
    gevent.sleep(0)
    assert websocket.dead
    assert websocket.backlog == 0


def test_bytes_the_request_reader_holds_are_read_by_the_websocket(pair):
    first, peer = pair
    ours = first.handler.socket
    handler = types.SimpleNamespace(socket=ours, rfile=ours.makefile("rb"))
    rfile = handler.rfile
    peer.sendall(b"GET\r\n" + client_frame(b"first") + client_frame(b"second"))
    assert rfile.readline() == b"GET\r\n"  # what pywsgi reads; it buffers the frames too
    websocket = wsconn.BoundedWebSocket({}, Stream(handler), handler, 1 << 20)
    handler.rfile = None  # the handler frees it
    assert websocket.receive() == "first"
    peer.sendall(client_frame(b"third"))
    assert websocket.receive() == "second"
    assert websocket.receive() == "third"


def test_gevent_websockets_read_frame_reads_through_the_websocket(pair):
    websocket, peer = pair
    peer.sendall(client_frame(b"held") + client_frame(b"later"))
    header, payload = websocket.read_frame()
    assert (header.opcode, bytes(payload)) == (1, b"held")
    assert websocket.receive() == "later"


def test_wait_message_returns_when_a_message_arrives_and_receive_does_not_wait_again(pair):
    websocket, peer = pair
    waiter = gevent.spawn(websocket.wait_message)
    wait_until(lambda: websocket._boundary_waiter is waiter, "the waiter parked")
    assert not waiter.dead  # nothing sent yet
    peer.sendall(client_frame(b"one") + client_frame(b"two"))
    waiter.join(timeout=1)
    assert waiter.dead
    assert waiter.successful()
    assert websocket.receive() == "one"
    with gevent.Timeout(0.5):
        websocket.wait_message()  # "two" is held already: no wait
    assert websocket.receive() == "two"


def test_interrupt_wait_ends_a_wait_for_a_message(pair):
    websocket, _peer = pair

    class Stop(Exception):
        pass

    waiter = gevent.spawn(websocket.wait_message)
    wait_until(lambda: websocket._boundary_waiter is waiter, "the waiter parked")
    gevent.get_hub().loop.run_callback(websocket.interrupt_wait, waiter, Stop())
    waiter.join(timeout=1)
    assert isinstance(waiter.exception, Stop)
    # the connection can still be waited on and read
    _peer.sendall(client_frame(b"after"))
    with gevent.Timeout(1):
        websocket.wait_message()
    assert websocket.receive() == "after"


def test_the_read_watcher_stays_started_between_messages(pair):
    websocket, peer = pair
    watcher = websocket._readiness.watcher
    peer.sendall(client_frame(b"one"))
    with gevent.Timeout(1):
        websocket.wait_message()
    assert websocket.receive() == "one"
    # started by the wait, and not stopped for the next one
    assert watcher.active
    peer.sendall(client_frame(b"two"))
    with gevent.Timeout(1):
        websocket.wait_message()
    assert websocket.receive() == "two"
    websocket.stop_reading()
    assert not watcher.active


def test_bytes_arriving_while_nobody_waits_stop_the_watcher_and_end_the_next_wait_at_once(pair):
    websocket, peer = pair
    readiness = websocket._readiness
    peer.sendall(client_frame(b"one"))
    with gevent.Timeout(1):
        websocket.wait_message()
    assert websocket.receive() == "one"
    # a handler runs (the reader waits for nothing); the client sends meanwhile
    peer.sendall(client_frame(b"two"))
    wait_until(lambda: readiness.ready, "the watcher to fire")
    assert not readiness.watcher.active  # (libev would call it on every turn)
    waiter = gevent.spawn(websocket.wait_message)
    waiter.join(timeout=0.5)
    assert waiter.successful()
    assert websocket.receive() == "two"


def test_closing_the_socket_under_a_waiting_reader_raises_there(pair):
    websocket, _peer = pair
    waiter = gevent.spawn(websocket.wait_message)
    wait_until(lambda: websocket._boundary_waiter is waiter, "the waiter parked")
    websocket.handler.rfile.close()  # (the request's reader, released by then in a server)
    websocket._sock.close()  # (gevent's cancel_wait, through the watcher's callback)
    waiter.join(timeout=1)
    assert waiter.dead
    assert isinstance(waiter.exception, OSError)


def test_closing_the_socket_between_messages_makes_the_next_read_fail(pair):
    websocket, peer = pair
    peer.sendall(client_frame(b"one"))
    with gevent.Timeout(1):
        websocket.wait_message()
    assert websocket.receive() == "one"
    websocket.handler.rfile.close()
    websocket._sock.close()  # the watcher is started, nobody waits
    gevent.sleep(0.01)
    with gevent.Timeout(1):
        websocket.wait_message()
        assert websocket.receive() is None  # (the connection ended)


def test_two_greenlets_waiting_for_one_connection_is_refused(pair):
    websocket, _peer = pair
    waiter = gevent.spawn(websocket.wait_message)
    wait_until(lambda: websocket._boundary_waiter is waiter, "the waiter parked")
    with pytest.raises(wsconn.ConcurrentObjectUseError):
        websocket.wait_message()
    waiter.kill()


def test_wait_message_on_a_closed_websocket_returns_and_receive_says_closed(pair):
    websocket, _peer = pair
    websocket.close()
    with gevent.Timeout(0.5):
        websocket.wait_message()
    with pytest.raises(wsconn.WebSocketError):
        websocket.receive()


def test_a_burst_of_frames_is_read_in_order_across_reads(pair):
    websocket, peer = pair
    # more than one read's worth, so frames straddle the reads; a fragmented
    # message and a ping among them
    texts = [f"5:::{i:05d}" + "x" * (i % 200) for i in range(1500)]
    frames = [client_frame(t.encode()) for t in texts]
    frames[700:701] = [
        client_frame(texts[700][:3].encode(), fin=False),
        client_frame(b"", opcode=wsframe.OP_PING),
        client_frame(texts[700][3:].encode(), opcode=wsframe.OP_CONTINUATION),
    ]
    burst = b"".join(frames)
    assert len(burst) > wsconn.READ_SIZE
    sender = gevent.spawn(peer.sendall, burst)
    peer.setblocking(True)
    with gevent.Timeout(5):
        assert [websocket.receive() for _ in texts] == texts
    sender.join()
    peer.setblocking(False)
    # the pong for the ping came back; nothing is held once all is read
    assert wsframe.encode_frame(b"", wsframe.OP_PONG) in _pending(peer)
    assert not websocket._received


def test_read_frame_and_receive_take_turns_on_one_read(pair):
    websocket, peer = pair
    peer.sendall(client_frame(b"one") + client_frame(b"two") + client_frame(b"three"))
    assert websocket.receive() == "one"
    header, payload = websocket.read_frame()
    assert header.opcode == wsframe.OP_TEXT
    assert bytes(payload) == b"two"
    assert websocket.receive() == "three"


# -- what a hostile client can make a connection hold or do (issue 17) ----------------


def _websocket(pair, **options):
    """A second websocket over ``pair``'s connection, with other limits."""
    first, peer = pair
    handler = types.SimpleNamespace(socket=first.handler.socket, rfile=None, **options)
    handler.rfile = handler.socket.makefile("rb")
    return wsconn.BoundedWebSocket({}, Stream(handler), handler, 1 << 20), peer


def _close_code(data: bytes) -> int:
    """The code of the close frame at the end of what the server wrote."""
    at = data.rindex(b"\x88")
    return struct.unpack("!H", data[at + 2 : at + 4])[0]


def test_max_message_frames_comes_from_the_handlers_config_unless_given(pair):
    websocket, _ = pair
    assert websocket.max_message_frames == 1024
    config = types.SimpleNamespace(max_message_frames=7)
    websocket, _ = _websocket(pair, config=config)
    assert websocket.max_message_frames == 7
    handler = websocket.handler
    given = wsconn.BoundedWebSocket({}, Stream(handler), handler, 100, max_message_frames=3)
    assert given.max_message_frames == 3


@pytest.mark.parametrize(
    "filler",
    [
        client_frame(b"", opcode=wsframe.OP_CONTINUATION, fin=False),
        client_frame(b"x", opcode=wsframe.OP_CONTINUATION, fin=False),
        client_frame(b"", opcode=wsframe.OP_PING),
        client_frame(b"", opcode=wsframe.OP_PONG),
    ],
    ids=["empty-fragments", "1-byte-fragments", "pings-inside", "pongs-inside"],
)
def test_a_message_of_too_many_frames_closes_with_1009(pair, filler):
    websocket, peer = _websocket(pair, config=types.SimpleNamespace(max_message_frames=10))
    # 10 frames in all are accepted ...
    ok = client_frame(b"5:", fin=False) + filler * 8 + client_frame(b"::", opcode=0)
    peer.sendall(ok)
    expected = "5:" + ("x" * 8 if filler[1] & 0x7F == 1 and filler[0] == 0 else "") + "::"
    assert websocket.receive() == expected
    # ... 11 are not
    peer.sendall(client_frame(b"5:", fin=False) + filler * 9 + client_frame(b"::", opcode=0))
    assert websocket.receive() is None
    assert websocket.closed
    peer.setblocking(True)
    peer.settimeout(1)
    assert _close_code(_pending_or_wait(peer)) == 1009


def _pending_or_wait(peer) -> bytes:
    data = b""
    while not data.endswith(b"message too big") and b"\x88" not in data[-40:]:
        data += peer.recv(1 << 20)
    return data


def test_pings_between_messages_are_not_counted_as_frames_of_one(pair):
    websocket, peer = _websocket(pair, config=types.SimpleNamespace(max_message_frames=2))
    peer.sendall(client_frame(b"", opcode=wsframe.OP_PING) * 50 + client_frame(b"2::"))
    assert websocket.receive() == "2::"


def test_a_fragment_over_what_is_left_of_the_size_limit_is_refused_by_its_header(pair):
    first, peer = pair
    handler = first.handler
    websocket = wsconn.BoundedWebSocket({}, Stream(handler), handler, 100)
    # 60 bytes, then a fragment announcing 50: refused before its payload arrives
    peer.sendall(client_frame(b"a" * 60, fin=False) + client_frame(b"b" * 50, opcode=0)[:8])
    with pytest.raises(FrameError) as info:
        websocket.read_message()
    assert info.value.close_code == 1009
    assert str(info.value) == "message over 100 bytes"


def _trickle(peer, data: bytes, step: int = 1) -> gevent.Greenlet:
    def send():
        for i in range(0, len(data), step):
            peer.sendall(data[i : i + step])
            gevent.sleep(0)

    return gevent.spawn(send)


@pytest.mark.cpython_only  # (tracemalloc: CPython's allocator)
@pytest.mark.parametrize("size", [20_000, 80_000], ids=["held-whole", "larger-than-a-read"])
def test_a_frame_trickled_a_byte_at_a_time_costs_about_its_size(pair, size):
    import tracemalloc

    websocket, peer = pair
    payload = b"5:::" + b"t" * (size - 4)
    frame = client_frame(payload)
    peer.setblocking(True)
    tracemalloc.start()
    try:
        sender = _trickle(peer, frame, 2)  # (each 1-byte object is one shared object)
        with gevent.Timeout(60):
            message = websocket.receive()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    sender.join()
    assert message == payload.decode()
    # the frame's bytes, the message decoded from them, the unmasking's
    # temporaries, a read's buffer (recv allocates its full size, then
    # shrinks it); a list of the reads (one object per read) took over 40
    # bytes per byte trickled
    assert peak < 4 * size + wsconn.READ_SIZE, peak


@pytest.mark.cpython_only  # (tracemalloc: CPython's allocator)
def test_a_big_frame_is_unmasked_as_it_arrives_and_not_kept(pair):
    import tracemalloc

    first, peer = pair
    handler = first.handler
    websocket = wsconn.BoundedWebSocket({}, Stream(handler), handler, 4 << 20)
    size = 2 << 20
    payload = b"5:::" + bytes(range(97, 123)) * (size // 26)
    after = client_frame(b"2::")
    frames = client_frame(payload) + after[:3]  # and the start of another
    peer.setblocking(True)
    sender = gevent.spawn(peer.sendall, frames)
    tracemalloc.start()
    try:
        with gevent.Timeout(20):
            message = websocket.receive()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    sender.join()
    assert message == payload.decode()
    # the payload once (unmasked as it came), the text decoded from it, a
    # read: not also the masked bytes whole and the unmasking's big integers
    assert peak < 2.3 * len(payload), peak
    assert len(websocket._received) <= 3  # only what follows the frame is held
    peer.sendall(after[3:])
    assert websocket.receive() == "2::"


def test_a_big_fragmented_message_is_gathered_in_one_buffer(pair):
    websocket, peer = pair
    pieces = [b"5:::", b"a" * 300_000, b"", b"b" * 70_000, b"c"]
    frames = [client_frame(pieces[0], fin=False)]
    frames += [client_frame(p, opcode=0, fin=False) for p in pieces[1:-1]]
    frames.append(client_frame(pieces[-1], opcode=0))
    peer.setblocking(True)
    sender = gevent.spawn(peer.sendall, b"".join(frames))
    with gevent.Timeout(20):
        assert websocket.receive() == b"".join(pieces).decode()
    sender.join()
    assert websocket._received == b""


def test_reading_a_flood_lets_the_other_greenlets_run(pair):
    websocket, peer = pair
    count = 3000
    burst = b"".join(client_frame(b"2::") for _ in range(count))
    assert len(burst) < wsconn.READ_SIZE  # one read: no read ever waits
    peer.sendall(burst)
    ticks = []
    done = []

    def ticker():
        # once per turn of the loop (a timed sleep would count the CPU's speed)
        while not done:
            ticks.append(None)
            fairness.pause()

    got = 0
    websocket.wait_message()  # (the one wait)
    other = gevent.spawn(ticker)
    for _ in range(count):
        assert websocket.receive() == "2::"
        got += 1
    done.append(True)
    other.join()
    # a turn is WORK_PER_TURN: some 64 small frames; without turns, none
    per_turn = wsconn.WORK_PER_TURN // (wsconn.FRAME_COST + 9)
    assert len(ticks) >= count // per_turn // 2, len(ticks)


def test_a_ping_flood_from_a_client_that_does_not_read_keeps_one_pong(pair):
    websocket, peer = pair
    gevent.sleep(0.001)  # the test: a turn of the loop of its own
    websocket.offer(wsframe.encode_frame(b"x" * (8 << 20)))  # more than the kernel takes
    assert websocket.backlog == 1
    waiting = websocket.backlog_bytes
    assert 0 < waiting < 8 << 20
    pings = b"".join(client_frame(b"%d" % i, opcode=wsframe.OP_PING) for i in range(2000))
    peer.sendall(pings + client_frame(b"2::"))
    assert websocket.receive() == "2::"
    assert websocket.backlog_bytes == waiting  # no pong was queued
    # once the client reads, the latest ping gets its pong, after the backlog
    peer.setblocking(True)
    received = b""
    while not received.endswith(wsframe.encode_frame(b"1999", wsframe.OP_PONG)):
        received += peer.recv(1 << 20)
    assert received.count(b"\x8a") == 1
    wait_until(lambda: websocket.backlog_bytes == 0, "the backlog written")


def test_backlog_bytes_counts_what_is_held_and_what_the_kernel_refused(pair):
    websocket, peer = pair
    gevent.sleep(0.001)  # the test: a turn of the loop of its own
    first, second = wsframe.text_frame("5:::1"), wsframe.text_frame("5:::22")
    websocket.offer(first)  # sent at once
    websocket.offer(second)  # held for the turn's end
    assert websocket.backlog_bytes == len(second)
    gevent.sleep(0)
    assert websocket.backlog_bytes == 0
    big = wsframe.encode_frame(b"y" * (8 << 20))
    gevent.sleep(0.001)  # the test: a turn of the loop of its own
    websocket.offer(big)
    websocket.offer(first)
    refused = websocket.backlog_bytes
    assert len(first) < refused <= len(big) + len(first)
    peer.setblocking(True)
    left = len(first) + len(second) + len(big) + len(first)
    while left > 0:
        left -= len(peer.recv(1 << 20))
    assert left == 0
    wait_until(lambda: websocket.backlog_bytes == 0, "the backlog written")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (struct.pack("!H", 5000), 1002),
        (struct.pack("!H", 1005), 1002),
        (struct.pack("!H", 999) + b"bye", 1002),
        (b"\x03", 1002),
        (struct.pack("!H", 1000) + b"\xff", 1007),
        (struct.pack("!H", 4000) + b"bye", 4000),
        (struct.pack("!H", 1001), 1001),
        (b"", 1000),
    ],
    ids=["5000", "1005", "999", "1-byte", "reason-not-utf8", "4000", "1001", "empty"],
)
def test_a_close_frame_is_echoed_only_if_valid(pair, payload, code):
    websocket, peer = pair
    peer.sendall(client_frame(payload, opcode=wsframe.OP_CLOSE))
    assert websocket.receive() is None
    assert websocket.closed
    assert websocket.peer_closed
    sent = _pending(peer)
    assert sent[0] == 0x88
    assert struct.unpack("!H", sent[2:4])[0] == code
