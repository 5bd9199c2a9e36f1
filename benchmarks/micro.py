"""Per-message costs of the pieces on our websocket echo path, in microseconds.

    .venv/bin/python -m benchmarks.micro

Times, in one process and without I/O, each step a websocket event-with-ack
echo goes through in our server (gevent-websocket's frame reading, UTF-8
validation and unmasking, packet decoding and encoding, JSON, the namespace
dispatch, the greenlet hand-offs through the two queues, the frame writing),
next to faster alternatives where one exists (``bytes.decode`` for UTF-8
validation, an integer XOR for unmasking, and ``orjson``/``wsaccel`` when they
are importable). The sum is a budget to hold against the measured
microseconds per message of workload B (1e6 / msgs/s on one core).
"""

from __future__ import annotations

import argparse
import io
import struct
import timeit
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import gevent
import gevent.queue
from geventwebsocket.utf8validator import Utf8Validator
from geventwebsocket.websocket import Header

from socketio import packet, wsframe
from socketio.defaultjson import default_json_dumps, default_json_loads
from socketio.namespace import BaseNamespace, _handler_shape
from socketio.virtsocket import Socket

DATA = {"seq": 12345, "text": "hello, world", "values": [1, 2, 3], "ok": True}
RAW = (
    '5:7+::{"name":"echo","args":[{"seq":12345,"text":"hello, world","values":[1,2,3],"ok":true}]}'
)
ACK = {"type": "ack", "ackId": 7, "args": [DATA], "endpoint": ""}
PAYLOAD = RAW.encode()
MASK = b"\x12\x34\x56\x78"


def _masked_frame(payload: bytes) -> bytes:
    head = struct.pack("!BB", 0x81, 0x80 | len(payload)) + MASK
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return head + masked


FRAME = _masked_frame(PAYLOAD)


def xor_unmask(data: bytes, mask: bytes) -> bytes:
    """Unmask with one big-integer XOR (pure Python, no per-byte loop)."""
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


class Echo(BaseNamespace):
    """A namespace whose ``echo`` answers the ack with its arguments."""

    def on_echo(self, *args: Any) -> Any:
        """Answer the ack with the event's arguments."""
        return args


def measure(fn: Callable[[], Any], number: int) -> float:
    """Microseconds per call (best of 5)."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def queue_round_trip(number: int) -> float:
    """A packet handed to another greenlet through a gevent Queue and back (two switches each)."""
    inbox: gevent.queue.Queue = gevent.queue.Queue()
    outbox: gevent.queue.Queue = gevent.queue.Queue()

    def worker() -> None:
        while True:
            item = inbox.get()
            if item is None:
                return
            outbox.put_nowait(item)

    g = gevent.spawn(worker)

    def one() -> None:
        inbox.put_nowait(RAW)
        outbox.get()

    result = measure(one, number)
    inbox.put_nowait(None)
    g.join()
    return result


#: one read's worth of back-to-back frames (a client flushing what it buffered)
BURST = FRAME * (65536 // len(FRAME))


def burst_by_offset() -> None:
    """Parse every frame of :data:`BURST` where it starts (what ``BoundedWebSocket`` does)."""
    at = 0
    while at < len(BURST):
        at = wsframe.parse_frame(BURST, 1 << 20, at)[3]  # type: ignore[index]


def burst_by_slicing() -> None:
    """Parse every frame of :data:`BURST`, slicing each off (the rest is copied every time)."""
    data = BURST
    while data:
        data = data[wsframe.parse_frame(data, 1 << 20)[3] :]  # type: ignore[index]


def rows(number: int) -> list[tuple[str, float, str]]:
    """Time each step of a message's way through the server: (name, microseconds per call, note)."""
    out: list[tuple[str, float, str]] = []

    def add(name: str, fn: Callable[[], Any], note: str = "") -> None:
        out.append((name, measure(fn, number), note))

    def read_header() -> Header:
        return Header.decode_header(io.BytesIO(FRAME))

    header = read_header()
    validator = Utf8Validator()

    def validate() -> Any:
        validator.reset()
        return validator.validate(PAYLOAD)

    add("geventwebsocket Header.decode_header", read_header, "per frame")
    add("geventwebsocket Header.unmask_payload", lambda: header.unmask_payload(FRAME[6:]))
    add("  alternative: integer XOR unmask", lambda: xor_unmask(FRAME[6:], MASK))
    add("geventwebsocket Utf8Validator.validate", validate, "called twice per message")
    add("  alternative: bytes.decode('utf-8')", lambda: PAYLOAD.decode("utf-8"))
    add("geventwebsocket Header.encode_header", lambda: Header.encode_header(True, 1, b"", 90, 0))
    frames = len(BURST) // len(FRAME)
    bursts = max(1, number // frames)  # timed, as many frames as the other rows
    out.append(
        (
            f"socketio wsframe.parse_frame, {frames} frames of one read",
            measure(burst_by_offset, bursts) / frames,
            "per frame",
        )
    )
    out.append(
        (
            "  the old way: slicing each frame off",
            measure(burst_by_slicing, bursts) / frames,
            "per frame",
        )
    )
    add("socketio packet.decode (with json)", lambda: packet.decode(RAW))
    add("socketio packet.encode ack (with json)", lambda: packet.encode(ACK))
    add("  json: default_json_loads", lambda: default_json_loads(RAW[6:]))
    add("  json: default_json_dumps", lambda: default_json_dumps([DATA]))
    try:
        import orjson

        add("  alternative: orjson.loads", lambda: orjson.loads(RAW[6:]))
        add("  alternative: orjson.dumps().decode()", lambda: orjson.dumps([DATA]).decode())
    except ImportError:
        pass
    try:
        from wsaccel.utf8validator import Utf8Validator as FastValidator

        fast = FastValidator()
        add("  alternative: wsaccel Utf8Validator", lambda: (fast.reset(), fast.validate(PAYLOAD)))
    except ImportError:
        pass
    ns = Echo({"socketio": SimpleNamespace(session={})}, "")
    method = ns.on_echo
    add("namespace: _handler_shape (inspect, cached)", lambda: _handler_shape(method), "per event")
    add("namespace: process_event (whole dispatch)", lambda: ns.process_event(packet.decode(RAW)))
    sock = Socket(SimpleNamespace(sockets={}), {})
    sock._set_namespaces({"": Echo})
    sock.state = sock.STATE_CONNECTED

    def process_raw() -> None:
        sock.handle_packet(RAW)
        sock.client_queue.get_nowait()

    add("virtsocket: Socket.handle_packet (all of the above)", process_raw, "decode to queued ack")
    out.append(("gevent Queue hand-off, there and back", queue_round_trip(number), "2 per msg"))
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the microseconds per call of each step."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.micro", description=__doc__)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args(argv)
    print(f"payload {len(PAYLOAD)} bytes: {RAW}")
    for name, usec, note in rows(args.number):
        print(f"{usec:8.2f} us  {name}" + (f"  ({note})" if note else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
