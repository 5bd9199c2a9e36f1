"""``socketio.wsframe``'s checks of close frames and its piecewise reading, with literal frames."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketio import wsframe
from socketio.exceptions import FrameError

from ..wsframes import client_frame

MASK = b"\x37\xfa\x21\x3d"

#: RFC 6455 section 7.4.1 and the IANA registry: what a peer may put in a close frame
ALLOWED = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
#: reserved (1004), only reported locally (1005, 1006, 1015), unassigned, or out of range
REFUSED = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


def close_payload(data: bytes) -> bytes:
    """The payload of the masked close frame ``data``, as the reader hands it on."""
    parsed = wsframe.parse_frame(data, 1 << 20)
    assert isinstance(parsed, tuple)
    assert parsed[1] == wsframe.OP_CLOSE
    return parsed[2]


def test_close_frames_from_the_wire():
    # 0x88: FIN + close; 0x82: masked, 2 bytes (1000 = 0x03e8)
    normal = bytes([0x88, 0x82]) + MASK + bytes([0x03 ^ 0x37, 0xE8 ^ 0xFA])
    assert wsframe.parse_close(close_payload(normal)) == (1000, "")
    with_reason = client_frame(struct.pack("!H", 4000) + "bye é".encode(), opcode=8, mask=MASK)
    assert wsframe.parse_close(close_payload(with_reason)) == (4000, "bye é")
    empty = bytes([0x88, 0x80]) + MASK
    assert wsframe.parse_close(close_payload(empty)) == (None, "")


@pytest.mark.parametrize("code", ALLOWED)
def test_codes_a_peer_may_send(code):
    assert wsframe.valid_close_code(code)
    assert wsframe.parse_close(struct.pack("!H", code)) == (code, "")


@pytest.mark.parametrize("code", REFUSED)
def test_codes_a_peer_may_not_send_fail_with_1002(code):
    assert not wsframe.valid_close_code(code)
    with pytest.raises(FrameError) as info:
        wsframe.parse_close(close_payload(client_frame(struct.pack("!H", code) + b"why", opcode=8)))
    assert info.value.close_code == 1002
    assert f"close code {code} " in str(info.value)


def test_a_one_byte_close_payload_fails_with_1002():
    with pytest.raises(FrameError) as info:
        wsframe.parse_close(close_payload(client_frame(b"\x03", opcode=8)))
    assert info.value.close_code == 1002
    assert "1-byte" in str(info.value)


def test_a_close_reason_that_is_not_utf8_fails_with_1007():
    with pytest.raises(FrameError) as info:
        wsframe.parse_close(struct.pack("!H", 1000) + b"\xff\xfe")
    assert info.value.close_code == 1007


@given(st.integers(0, 65535), st.binary(max_size=123))
def test_parse_close_accepts_exactly_the_allowed_codes_and_utf8_reasons(code, reason):
    payload = struct.pack("!H", code) + reason
    try:
        text = reason.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    allowed = 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999
    if allowed and text is not None:
        assert wsframe.parse_close(payload) == (code, text)
        assert wsframe.parse_close(bytearray(payload)) == (code, text)
    else:
        with pytest.raises(FrameError) as info:
            wsframe.parse_close(payload)
        assert info.value.close_code == (1002 if not allowed else 1007)


# -- reading a frame piecewise --------------------------------------------------------


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_frame_header_locates_the_payload_and_mask(size):
    data = client_frame(b"z" * size, opcode=2, fin=False, mask=MASK)
    head = {size: 6 if size < 126 else 8 if size < 65536 else 14}[size]
    # parse_frame accepts the header as soon as it is whole, and tells the frame's end
    assert wsframe.parse_frame(data[:head], 1 << 20) == (len(data) if size else (False, 2, b"", 6))
    assert wsframe.frame_header(data[:head]) == (False, 2, head, MASK)
    assert wsframe.frame_header(b"\0" * 5 + data, 5) == (False, 2, head + 5, MASK)


@given(st.binary(max_size=2000), st.binary(min_size=4, max_size=4), st.data())
def test_a_payload_unmasked_in_pieces_is_the_payload(payload, mask, data):
    masked = client_frame(payload, mask=mask)[-len(payload) :] if payload else b""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(payload)), max_size=6)))
    pieces = []
    start = 0
    for cut in [*cuts, len(payload)]:
        pieces.append(wsframe.unmask_from(bytearray(masked[start:cut]), mask, start))
        start = cut
    assert b"".join(pieces) == payload
