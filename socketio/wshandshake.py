"""The RFC 6455 opening handshake as values: check an upgrade request, build the 101 head.

Pure (standard library only, no I/O): the handler reads the request's
headers, asks these functions what to answer, and writes it. A refusal is a
:class:`Refusal` (status line, headers, body); an acceptance is the header
list of ``101 Switching Protocols``.

Example (RFC 6455 §1.3)::

    >>> accept_key("dGhlIHNhbXBsZSBub25jZQ==")
    's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection
from typing import NamedTuple, Optional

__all__ = [
    "GUID",
    "Refusal",
    "accept_headers",
    "accept_key",
    "check_key",
    "check_upgrade_request",
    "check_version",
]

#: the GUID RFC 6455 §1.3 appends to the client's key
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Refusal(NamedTuple):
    """An upgrade refused: what to answer instead of ``101``."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes


def check_upgrade_request(method: Optional[str], upgrade: Optional[str]) -> bool:
    """Whether a request asks for a websocket: a ``GET`` with ``Upgrade: websocket``.

    Args:
        method: the request method.
        upgrade: the ``Upgrade`` header's value, or ``None`` without one.
    """
    return method == "GET" and (upgrade or "").lower() == "websocket"


def check_version(version: Optional[str], supported: Collection[str]) -> Optional[Refusal]:
    """Refuse a ``Sec-WebSocket-Version`` not in ``supported`` (RFC 6455 §4.4), else ``None``.

    The refusal names the supported versions, as the RFC asks.
    """
    if version in supported:
        return None
    return Refusal(
        "400 Bad Request",
        [("Sec-WebSocket-Version", ", ".join(supported))],
        b"Unsupported WebSocket Version",
    )


def check_key(key: str) -> Optional[Refusal]:
    """Refuse a ``Sec-WebSocket-Key`` that is not 16 bytes in base64 (RFC 6455 §4.2.1), else ``None``.

    Args:
        key: the header's value, stripped of surrounding whitespace.
    """
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except ValueError:  # (binascii.Error is one)
        valid = False
    if valid:
        return None
    return Refusal("400 Bad Request", [], b"Invalid Sec-WebSocket-Key")


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("latin-1")).digest()
    return base64.b64encode(digest).decode("latin-1")


def accept_headers(key: str) -> list[tuple[str, str]]:
    """The headers of ``101 Switching Protocols`` accepting ``key``'s upgrade."""
    return [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(key)),
    ]
