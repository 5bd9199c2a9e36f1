"""A Socket.IO 0.9 client on the xhr-polling or jsonp-polling transport (``requests``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import requests

from .framing import frame, jsonp_unwrap, unframe
from .handshake import TIMEOUT, handshake, transport_url


class PollingClient:
    """A polling session on one keep-alive HTTP session.

    The handshake goes over the same session (so it reaches the same server
    process behind a sticky balancer). Unless ``sid`` is given or ``open`` is
    false, the first GET is made and must answer ``1::``.

    ``get()`` returns the payload of one GET (unwrapped from its JSONP call),
    ``packets()`` the packets in it; ``post(body)`` sends a payload as it is
    (as the form field ``d`` for JSONP) and ``send(*packets)`` frames packets
    and checks the server took them.
    """

    def __init__(
        self,
        url: str,
        transport: str = "xhr-polling",
        sid: str | None = None,
        open: bool = True,
    ) -> None:
        self.transport = transport
        self.http = requests.Session()
        if sid is None:
            fields = handshake(url, self.http)
            self.sid, self.heartbeat_timeout, self.close_timeout, self.transports = fields
        else:
            self.sid = sid
        self.url = transport_url(url, transport, self.sid)
        if sid is None and open:
            assert self.get() == "1::"

    def unwrap(self, text: str) -> str:
        """The payload of a GET's answer ``text``."""
        if self.transport != "jsonp-polling":
            return text
        return jsonp_unwrap(text)

    def get(self, timeout: float = 10, **headers: str) -> str:
        """One GET (held until the server has something or ends the poll): its payload."""
        resp = self.http.get(self.url, params={"t": time.time()}, timeout=timeout, headers=headers)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return self.unwrap(resp.text)

    def packets(self, timeout: float = 30) -> list[str]:
        """One GET: the packets in its payload."""
        return unframe(self.get(timeout))

    def post(self, body: str, **headers: str) -> requests.Response:
        """POST ``body`` as it is (a packet or a framed payload); the response."""
        if self.transport == "jsonp-polling":
            return self.http.post(
                self.url, data={"d": json.dumps(body)}, timeout=TIMEOUT, headers=headers
            )
        return self.http.post(self.url, data=body.encode("utf-8"), timeout=TIMEOUT, headers=headers)

    def send(self, *packets: str) -> None:
        """POST ``packets`` (framed when more than one) and check the server took them."""
        resp = self.post(packets[0] if len(packets) == 1 else frame(*packets))
        assert resp.status_code == 200 and resp.text == "1", (resp.status_code, resp.text)

    def wait_for(self, predicate: Callable[[str], object], polls: int = 10) -> str:
        """GET until a packet satisfies ``predicate``; return it."""
        for _ in range(polls):
            for raw in self.packets():
                if predicate(raw):
                    return raw
        raise AssertionError("the expected packet never came")
