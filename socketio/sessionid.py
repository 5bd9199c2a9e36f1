"""Session ids: unguessable, and optionally signed so that sibling processes can recognise them.

Without a secret an id is 128 random bits from :mod:`secrets` as 32 hex digits.
With a secret shared by several processes (gunicorn workers forked from one
master), an id also carries the time it was issued and an HMAC of both, so a
process that receives the websocket of a session another process handshook can
tell a genuine, recent id from a forged or stale one. Pure: standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Optional, Union

__all__ = ["issued_at", "new_sessid", "verify_sessid"]

_RANDOM_HEX = 32  # 128 bits
_TIME_HEX = 8
_MAC_HEX = 16  # 64 bits of HMAC-SHA256
_SIGNED_LENGTH = _RANDOM_HEX + _TIME_HEX + _MAC_HEX

Secret = Union[bytes, str]


def _key(secret: Secret) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _mac(secret: Secret, body: str) -> str:
    return hmac.new(_key(secret), body.encode("ascii"), hashlib.sha256).hexdigest()[:_MAC_HEX]


def new_sessid(secret: Optional[Secret] = None, now: float = 0.0) -> str:
    """A fresh session id; signed with ``secret`` (and stamped with ``now``) when one is given."""
    random_part = secrets.token_hex(_RANDOM_HEX // 2)
    if not secret:
        return random_part
    body = f"{random_part}{int(now) & 0xFFFFFFFF:08x}"
    return body + _mac(secret, body)


def verify_sessid(sessid: str, secret: Optional[Secret], now: float, max_age: float) -> bool:
    """Tell whether ``sessid`` was signed with ``secret`` no more than ``max_age`` seconds ago."""
    if not secret or len(sessid) != _SIGNED_LENGTH:
        return False
    body, mac = sessid[:-_MAC_HEX], sessid[-_MAC_HEX:]
    if not hmac.compare_digest(mac, _mac(secret, body)):
        return False
    try:
        issued = int(body[_RANDOM_HEX:], 16)
    except ValueError:
        return False
    age = (int(now) - issued) & 0xFFFFFFFF
    return age <= max_age


def issued_at(sessid: str) -> Optional[int]:
    """The time (whole seconds, modulo 2**32) stamped in a signed id, or ``None`` if it has none.

    Not verified: call :func:`verify_sessid` first.
    """
    if len(sessid) != _SIGNED_LENGTH:
        return None
    try:
        return int(sessid[_RANDOM_HEX : _RANDOM_HEX + _TIME_HEX], 16)
    except ValueError:
        return None
