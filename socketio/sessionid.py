"""Session ids: unguessable, and optionally signed so that sibling processes can recognise them.

Without a secret an id is 128 random bits from :mod:`secrets` as 32 hex digits.
With a secret shared by several processes (gunicorn workers forked from one
master, or servers behind one proxy), an id also carries the time it was
issued, optionally the address of the process that owns the session (its
*owner*, see :mod:`socketio.forwarding`), and an HMAC of all of it. A process
that receives a request for a session it does not hold can then tell a
genuine id from a forged one, adopt a recent one (a websocket), or hand the
request to the owner the id names (a polling request). Pure: standard
library only.

Layout of a signed id: 32 hex digits of randomness, 8 of time (whole seconds,
modulo 2**32), the owner's address in unpadded base64url (absent when the
process names none), and 16 hex digits of HMAC-SHA256 over what precedes it.
Every character is one a URL path and the handshake's ``:``-separated answer
carry as is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Optional, Union

__all__ = [
    "MAX_OWNER_BYTES",
    "forward_signature",
    "issued_at",
    "new_sessid",
    "owner_signature",
    "sessid_owner",
    "verify_forward_signature",
    "verify_sessid",
]

_RANDOM_HEX = 32  # 128 bits
_TIME_HEX = 8
_MAC_HEX = 16  # 64 bits of HMAC-SHA256
_SIGNED_LENGTH = _RANDOM_HEX + _TIME_HEX + _MAC_HEX
#: longest owner address an id may carry (its base64 makes the id longer by 4/3 of it)
MAX_OWNER_BYTES = 96
_MAX_LENGTH = _SIGNED_LENGTH + (MAX_OWNER_BYTES * 4 + 2) // 3

Secret = Union[bytes, str]


def _key(secret: Secret) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _mac(secret: Secret, body: str) -> str:
    return hmac.new(_key(secret), body.encode("ascii"), hashlib.sha256).hexdigest()[:_MAC_HEX]


def _encode_owner(owner: str) -> str:
    raw = owner.encode("utf-8")
    if len(raw) > MAX_OWNER_BYTES:
        raise ValueError(f"owner address longer than {MAX_OWNER_BYTES} bytes: {owner!r}")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_owner(text: str) -> Optional[str]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def new_sessid(secret: Optional[Secret] = None, now: float = 0.0, owner: str = "") -> str:
    """A fresh session id; signed with ``secret`` (and stamped with ``now``) when one is given.

    Args:
        secret: the secret shared by the sibling processes; ``None``: an
            unsigned id (``owner`` is then ignored).
        now: the time to stamp (``time.time()``).
        owner: the address siblings forward this session's requests to
            (see :mod:`socketio.forwarding`); ``''``: none.

    Raises:
        ValueError: ``owner`` is longer than :data:`MAX_OWNER_BYTES`.
    """
    random_part = secrets.token_hex(_RANDOM_HEX // 2)
    if not secret:
        return random_part
    body = f"{random_part}{int(now) & 0xFFFFFFFF:08x}"
    if owner:
        body += _encode_owner(owner)
    return body + _mac(secret, body)


def _genuine_body(sessid: str, secret: Optional[Secret]) -> Optional[str]:
    """The signed part of ``sessid`` if ``secret`` signed it, else ``None``."""
    if not secret or not _SIGNED_LENGTH <= len(sessid) <= _MAX_LENGTH or not sessid.isascii():
        return None
    body, mac = sessid[:-_MAC_HEX], sessid[-_MAC_HEX:]
    if not hmac.compare_digest(mac, _mac(secret, body)):
        return None
    return body


def verify_sessid(sessid: str, secret: Optional[Secret], now: float, max_age: float) -> bool:
    """Tell whether ``sessid`` was signed with ``secret`` no more than ``max_age`` seconds ago."""
    body = _genuine_body(sessid, secret)
    if body is None:
        return False
    try:
        issued = int(body[_RANDOM_HEX : _RANDOM_HEX + _TIME_HEX], 16)
    except ValueError:
        return False
    age = (int(now) - issued) & 0xFFFFFFFF
    return age <= max_age


def sessid_owner(sessid: str, secret: Optional[Secret]) -> Optional[str]:
    """The owner address a genuine ``sessid`` names, or ``None`` (unsigned, forged, or none named).

    Unlike :func:`verify_sessid` this has no age limit: a session lives as
    long as its client keeps it alive, and its id names its owner all along.
    """
    body = _genuine_body(sessid, secret)
    if body is None or len(body) == _RANDOM_HEX + _TIME_HEX:
        return None
    return _decode_owner(body[_RANDOM_HEX + _TIME_HEX :]) or None


def issued_at(sessid: str) -> Optional[int]:
    """The time (whole seconds, modulo 2**32) stamped in a signed id, or ``None`` if it has none.

    Not verified: call :func:`verify_sessid` first.
    """
    if not _SIGNED_LENGTH <= len(sessid) <= _MAX_LENGTH:
        return None
    try:
        return int(sessid[_RANDOM_HEX : _RANDOM_HEX + _TIME_HEX], 16)
    except ValueError:
        return None


def forward_signature(secret: Secret, sessid: str, client: str) -> str:
    """What a process that forwards a request of ``sessid`` signs it with.

    ``client`` is the address of the client the request came from, which the
    owner then uses as the request's ``REMOTE_ADDR``. The owner accepts a
    forwarded request only with a signature by the shared secret, so its
    forward listener serves siblings and nobody else.
    """
    return _mac(secret, f"forward\n{sessid}\n{client}")


def owner_signature(secret: Secret, sessid: str) -> str:
    """What the owner of ``sessid`` signs its answers to forwarded requests with.

    The forwarding process relays an answer only with it: whatever else
    listens at an address a session id names (a process started on the port
    of an owner that died) is taken for an owner that is gone.
    """
    return _mac(secret, f"owner\n{sessid}")


def verify_forward_signature(secret: Secret, sessid: str, client: str, signature: str) -> bool:
    """Tell whether ``signature`` is :func:`forward_signature` of ``sessid`` and ``client``."""
    if not client.isascii() or not sessid.isascii():
        return False
    return hmac.compare_digest(signature, forward_signature(secret, sessid, client))
