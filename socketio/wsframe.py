"""Websocket frames (RFC 6455) as pure functions over bytes: no sockets, no gevent.

The server side of the framing only: :func:`parse_frame` reads one masked
client frame from a buffer, :func:`encode_frame` writes an
unmasked server frame, :func:`parse_close` checks what a client's close
frame carries. A frame too big to be held whole (masked, then unmasked) is
read piecewise: :func:`frame_header` locates its payload and
:func:`unmask_from` unmasks each piece as it arrives. The I/O layer
(:mod:`socketio.wsconn`) feeds bytes in and writes what comes out.
"""

from __future__ import annotations

import struct
from typing import Optional, Union

from .exceptions import FrameError
from .runtime import PYPY, memo

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONTINUATION",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Buffer",
    "ParsedFrame",
    "encode_frame",
    "frame_header",
    "parse_close",
    "parse_frame",
    "text_frame",
    "unmask",
    "unmask_from",
    "valid_close_code",
]

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_KNOWN_OPCODES = frozenset({OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG})

#: bytes as received: a read, or a buffer gathering several
Buffer = Union[bytes, bytearray]

#: ``(fin, opcode, payload, end)``: a whole frame, its payload unmasked, and the
#: offset in the buffer just past it.
ParsedFrame = tuple[bool, int, Buffer, int]

_LEN16 = struct.Struct("!BBH")
_LEN64 = struct.Struct("!BBQ")


def _unmask_as_integer(data: Buffer, mask: Buffer) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (one big-integer XOR, not per byte)."""
    size = len(data)
    if not size:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


def _unmask_by_byte(data: Buffer, mask: Buffer) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated, byte by byte (for a JIT)."""
    out = bytearray(data)
    size = len(out)
    m0, m1, m2, m3 = mask[0], mask[1], mask[2], mask[3]
    end = size - size % 4
    i = 0
    while i < end:
        out[i] ^= m0
        out[i + 1] ^= m1
        out[i + 2] ^= m2
        out[i + 3] ^= m3
        i += 4
    while i < size:
        out[i] ^= mask[i & 3]
        i += 1
    return bytes(out)


#: ``unmask(data, mask)``: ``data`` XORed with the 4-byte ``mask`` repeated. On
#: CPython one big-integer XOR (a loop over bytes is interpreted: 7x slower for
#: a small frame); on PyPy a loop over bytes, which the JIT compiles (its big
#: integers are slower: 4.5x for a 93-byte frame, 9x for 64 KiB)
unmask = _unmask_by_byte if PYPY else _unmask_as_integer


def unmask_from(data: Buffer, mask: bytes, offset: int) -> bytes:
    """:func:`unmask` for bytes that start ``offset`` bytes into a payload.

    (Each payload byte is XORed with ``mask[i % 4]``, ``i`` counted from the
    payload's start: a piece starting mid-payload starts mid-mask.)
    """
    shift = offset & 3
    return unmask(data, mask[shift:] + mask[:shift] if shift else mask)


def parse_frame(data: Buffer, max_size: int, start: int = 0) -> Union[ParsedFrame, int]:
    """Parse the client frame at offset ``start`` of ``data``.

    Args:
        data: bytes received so far.
        max_size: the largest payload accepted, checked as soon as the header
            is complete (so a peer announcing gigabytes is refused before any
            of them is read).
        start: where the frame begins: a reader working through a buffer of
            many frames moves this on, instead of slicing off each frame
            (which copies the rest of the buffer every time).

    Returns:
        A :data:`ParsedFrame` when ``data`` holds the whole frame (its last
        item the offset just past it); otherwise the length ``data`` must
        reach to go on (more than ``len(data)``): call again once it has.

    Raises:
        FrameError: reserved bits set, an unmasked frame (clients must mask),
            an unknown opcode, a fragmented or long control frame
            (``close_code`` 1002), or a payload over ``max_size`` (1009).
    """
    size = len(data)
    if size < start + 2:
        return start + 2
    first = data[start]
    second = data[start + 1]
    if first & 0x70:
        raise FrameError("reserved bits set in frame header")
    opcode = first & 0x0F
    if opcode not in _KNOWN_OPCODES:
        raise FrameError(f"unknown opcode {opcode:#x}")
    if not second & 0x80:
        raise FrameError("client frame not masked")
    length = second & 0x7F
    mask_at = start + 2
    if length == 126:
        mask_at = start + 4
        if size < mask_at:
            return mask_at
        length = int.from_bytes(data[start + 2 : mask_at], "big")
    elif length == 127:
        mask_at = start + 10
        if size < mask_at:
            return mask_at
        length = int.from_bytes(data[start + 2 : mask_at], "big")
    fin = bool(first & 0x80)
    if opcode >= OP_CLOSE:
        if not fin:
            raise FrameError("fragmented control frame")
        if length > 125:
            raise FrameError(f"Control frame of {length} bytes (at most 125)")
    if length > max_size:
        raise FrameError(f"message over {max_size} bytes (frame of {length})", close_code=1009)
    end = mask_at + 4 + length
    if size < end:
        return end
    return fin, opcode, unmask(data[mask_at + 4 : end], data[mask_at : mask_at + 4]), end


def frame_header(data: Buffer, start: int = 0) -> tuple[bool, int, int, bytes]:
    """``(fin, opcode, payload_at, mask)`` of the frame at ``start``, for reading it piecewise.

    Call it only once :func:`parse_frame` has accepted that frame's header
    (it returned the frame's end, beyond the header, rather than raising):
    nothing is checked again here.
    """
    first = data[start]
    length = data[start + 1] & 0x7F
    mask_at = start + (2 if length < 126 else 4 if length == 126 else 10)
    return bool(first & 0x80), first & 0x0F, mask_at + 4, bytes(data[mask_at : mask_at + 4])


def valid_close_code(code: int) -> bool:
    """Whether a peer may send ``code`` in a close frame (RFC 6455 section 7.4, IANA registry).

    1000-1003 and 1007-1014 are the registered protocol codes a peer may
    send (1004 is reserved; 1005, 1006 and 1015 only report, locally, how a
    connection ended); 1016-2999 are kept for the protocol and unassigned;
    3000-4999 belong to libraries and applications; nothing is above 4999.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def parse_close(payload: Buffer) -> tuple[Optional[int], str]:
    """The status code and reason a client's close frame carries.

    Args:
        payload: the close frame's (unmasked) payload.

    Returns:
        ``(code, reason)``; ``(None, "")`` for an empty payload (no code).

    Raises:
        FrameError: a 1-byte payload or a code no peer may send
            (:func:`valid_close_code`), ``close_code`` 1002; a reason that
            is not UTF-8, ``close_code`` 1007 (as for a text message).
    """
    if not payload:
        return None, ""
    if len(payload) == 1:
        raise FrameError("close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if not valid_close_code(code):
        raise FrameError(f"close code {code} is not one a peer may send")
    try:
        reason = bytes(payload[2:]).decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("close reason is not UTF-8", close_code=1007) from None
    return code, reason


def encode_frame(payload: Buffer, opcode: int = OP_TEXT) -> bytes:
    """One unmasked, final server frame carrying ``payload``."""
    length = len(payload)
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, length)) + payload
    if length < 0x10000:
        return _LEN16.pack(first, 126, length) + payload
    return _LEN64.pack(first, 127, length) + payload


@memo(4)
def text_frame(text: str) -> bytes:
    """The text frame carrying ``text``.

    Remembered for the last few texts: a broadcast hands the same string to
    every member's connection, so it is framed once, not once per member.
    """
    return encode_frame(text.encode("utf-8"), OP_TEXT)
