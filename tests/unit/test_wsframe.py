"""``socketio.wsframe``: websocket frames as pure functions, checked against RFC 6455's examples."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketio import wsframe
from socketio.exceptions import FrameError, ProtocolError

from ..wsframes import client_frame

MASK = b"\x37\xfa\x21\x3d"


def test_rfc6455_masked_hello():
    # RFC 6455 section 5.7: a single-frame masked text message "Hello"
    data = bytes.fromhex("818537fa213d7f9f4d5158")
    assert wsframe.parse_frame(data, 100) == (True, wsframe.OP_TEXT, b"Hello", 11)


def test_rfc6455_unmasked_server_frames():
    assert wsframe.encode_frame(b"Hello") == bytes.fromhex("810548656c6c6f")
    # 256 bytes and 64 KiB binary messages in a single unmasked frame
    assert wsframe.encode_frame(b"x" * 256, wsframe.OP_BINARY)[:4] == bytes.fromhex("827e0100")
    assert wsframe.encode_frame(b"x" * 65536, wsframe.OP_BINARY)[:10] == bytes.fromhex(
        "827f0000000000010000"
    )
    assert wsframe.text_frame("5:::{}") == b"\x81\x065:::{}"
    assert wsframe.text_frame("é") == b"\x81\x02\xc3\xa9"


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_every_length_encoding_parses(size):
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    data = client_frame(payload)
    assert wsframe.parse_frame(data, 1 << 20) == (True, 1, payload, len(data))


def test_incomplete_data_tells_how_much_is_needed():
    data = client_frame(b"x" * 300)  # 2 + 2 + 4 + 300 bytes
    assert wsframe.parse_frame(b"", 1000) == 2
    assert wsframe.parse_frame(data[:1], 1000) == 2
    assert wsframe.parse_frame(data[:3], 1000) == 4
    assert wsframe.parse_frame(data[:10], 1000) == 308
    assert wsframe.parse_frame(client_frame(b"y" * 70000)[:5], 1 << 20) == 10


def test_frame_followed_by_more_data():
    first, second = client_frame(b"2::"), client_frame(b"", opcode=wsframe.OP_PING)
    _, _, payload, used = wsframe.parse_frame(first + second, 100)
    assert (payload, used) == (b"2::", len(first))
    assert wsframe.parse_frame((first + second)[used:], 100)[:3] == (True, wsframe.OP_PING, b"")


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=8), st.binary(max_size=3))
def test_frames_are_parsed_where_they_start_in_one_buffer(payloads, prefix):
    frames = [client_frame(p) for p in payloads]
    data = prefix + b"".join(frames)
    at = len(prefix)
    for payload, frame in zip(payloads, frames, strict=True):
        assert wsframe.parse_frame(data[: at + len(frame) - 1], 1000, at) == at + len(frame)
        fin, opcode, got, end = wsframe.parse_frame(data, 1000, at)
        assert (fin, opcode, got, end) == (True, wsframe.OP_TEXT, payload, at + len(frame))
        at = end
    assert at == len(data)
    assert wsframe.parse_frame(data, 1000, at) == at + 2


def test_fragment_and_control_frames():
    assert wsframe.parse_frame(client_frame(b"ab", fin=False), 100)[:3] == (False, 1, b"ab")
    assert wsframe.parse_frame(client_frame(b"cd", opcode=0), 100)[:3] == (True, 0, b"cd")
    close = client_frame(struct.pack("!H", 1000), opcode=wsframe.OP_CLOSE)
    assert wsframe.parse_frame(close, 100)[:3] == (True, 8, b"\x03\xe8")


@pytest.mark.parametrize(
    ("data", "code", "text"),
    [
        (bytes([0xC1, 0x80]) + MASK, 1002, "reserved bits"),
        (b"\x81\x03abc", 1002, "not masked"),
        (client_frame(b"x", opcode=5), 1002, "unknown opcode"),
        (client_frame(b"x" * 126, opcode=9), 1002, "Control frame of 126 bytes"),
        (client_frame(b"x", opcode=9, fin=False), 1002, "fragmented control"),
        (client_frame(b"x" * 101, mask=MASK), 1009, "message over 100 bytes"),
        # refused from the header alone: the announced 10 GB are never awaited
        (bytes([0x81, 0xFF]) + struct.pack("!Q", 10 << 30), 1009, "message over 100"),
    ],
)
def test_refused_frames_carry_their_close_code(data, code, text):
    with pytest.raises(FrameError) as info:
        wsframe.parse_frame(data, 100)
    assert info.value.close_code == code
    assert text in str(info.value)
    assert isinstance(info.value, ProtocolError)


@given(st.binary(max_size=3000), st.binary(min_size=4, max_size=4))
def test_unmask_matches_the_bytewise_definition(data, mask):
    expected = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    assert wsframe.unmask(data, mask) == expected
    # both ways, whichever this interpreter uses (see socketio.runtime)
    assert wsframe._unmask_as_integer(data, mask) == expected
    assert wsframe._unmask_by_byte(data, mask) == expected
    assert wsframe._unmask_by_byte(bytearray(data), bytearray(mask)) == expected


@given(
    st.binary(max_size=70000),
    st.sampled_from([0, 1, 2]),
    st.booleans(),
    st.binary(min_size=4, max_size=4),
    st.binary(max_size=20),
)
def test_parse_round_trip(payload, opcode, fin, mask, tail):
    data = client_frame(payload, opcode=opcode, fin=fin, mask=mask)
    assert wsframe.parse_frame(data + tail, 1 << 17) == (fin, opcode, payload, len(data))
    # any strict prefix is incomplete, and says how much more it needs
    cut = len(data) // 2
    needed = wsframe.parse_frame(data[:cut], 1 << 17)
    assert isinstance(needed, int)
    assert cut < needed <= len(data)
