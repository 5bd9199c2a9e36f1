"""The handshake, ``GET /socket.io/1/``, and the URLs of the transports."""

from __future__ import annotations

from typing import Any, NamedTuple

import requests

#: seconds a test waits for any one answer
TIMEOUT = 5


class Handshake(NamedTuple):
    """The four fields of a handshake answer."""

    sid: str
    heartbeat_timeout: str
    close_timeout: str
    transports: str


def handshake(
    url: str, session: requests.Session | None = None, timeout: float = TIMEOUT, **params: Any
) -> Handshake:
    """Handshake with ``url`` (``http://host:port``), on ``session`` when given.

    ``params`` go in the query string. Fails unless the answer is 200.
    """
    resp = (session or requests).get(url + "/socket.io/1/", params=params, timeout=timeout)
    assert resp.status_code == 200, (resp.status_code, resp.text)
    return parse_handshake(resp.text)


def parse_handshake(body: str) -> Handshake:
    """The fields of a handshake answer's body ``sid:heartbeat:close:transports``."""
    sid, heartbeat, close, transports = body.split(":")
    return Handshake(sid, heartbeat, close, transports)


def transport_url(url: str, transport: str, sid: str) -> str:
    """``url``'s endpoint for ``sid`` on ``transport``."""
    return f"{url}/socket.io/1/{transport}/{sid}"
