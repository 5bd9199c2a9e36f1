"""Masked websocket client frames, built independently of ``socketio.wsframe``."""

from __future__ import annotations

import os
import struct
from typing import Optional, Union

#: a masking key of zeros: XOR with it leaves the payload as it is, so a frame of
#: many megabytes (the attack benchmarks send 10 MB ones) is built without a loop
#: over its bytes
ZERO_MASK = b"\0\0\0\0"


def client_frame(
    payload: bytes,
    opcode: int = 1,
    fin: bool = True,
    mask: Union[bool, bytes] = True,
    rsv: int = 0,
    length: Optional[int] = None,
) -> bytes:
    """A client frame carrying ``payload``.

    ``mask``: ``True`` for a random masking key, a 4-byte key (:data:`ZERO_MASK`
    sends the payload as it is), or ``False``
    for an unmasked frame (which RFC 6455 forbids a client). ``rsv`` sets the
    reserved bits; ``length`` may announce more than ``payload`` holds.
    """
    n = len(payload) if length is None else length
    masked = 0x80 if mask is not False else 0
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    if n < 126:
        head += bytes([masked | n])
    elif n < 65536:
        head += bytes([masked | 126]) + struct.pack("!H", n)
    else:
        head += bytes([masked | 127]) + struct.pack("!Q", n)
    if mask is False:
        return head + payload
    key = os.urandom(4) if mask is True else mask
    if key == ZERO_MASK:
        return head + key + payload
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
