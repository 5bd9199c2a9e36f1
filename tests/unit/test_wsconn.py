"""BoundedWebSocket's writing over a real socket pair: when frames reach the kernel."""

from __future__ import annotations

import types

import gevent
import gevent.socket
import pytest
from geventwebsocket.websocket import Stream

from socketio import wsconn, wsframe

from ..wsframes import client_frame


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
    gevent.sleep(0.001)  # a turn of the loop of its own
    for frame in frames:
        websocket.offer(frame)
    assert _pending(peer) == frames[0]
    gevent.sleep(0)  # the turn ends
    assert _pending(peer) == frames[1] + frames[2]
    assert websocket.backlog == 0


def test_close_and_send_write_what_is_held_first(pair):
    websocket, peer = pair
    frames = [wsframe.text_frame(f"5:::{i}") for i in range(3)]
    gevent.sleep(0.001)
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
    gevent.sleep(0.001)
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
    gevent.sleep(0.001)
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
    gevent.sleep(0.01)
    assert not waiter.dead  # nothing sent yet
    peer.sendall(client_frame(b"one") + client_frame(b"two"))
    waiter.join(timeout=1)
    assert waiter.dead and waiter.successful()
    assert websocket.receive() == "one"
    with gevent.Timeout(0.5):
        websocket.wait_message()  # "two" is held already: no wait
    assert websocket.receive() == "two"


def test_interrupt_wait_ends_a_wait_for_a_message(pair):
    websocket, _peer = pair

    class Stop(Exception):
        pass

    waiter = gevent.spawn(websocket.wait_message)
    gevent.sleep(0.01)
    gevent.get_hub().loop.run_callback(websocket.interrupt_wait, waiter, Stop())
    waiter.join(timeout=1)
    assert isinstance(waiter.exception, Stop)
    # the connection can still be waited on and read
    _peer.sendall(client_frame(b"after"))
    with gevent.Timeout(1):
        websocket.wait_message()
    assert websocket.receive() == "after"


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
