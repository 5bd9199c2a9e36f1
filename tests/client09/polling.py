"""A Socket.IO 0.9 client on the xhr-polling or jsonp-polling transport (``requests``)."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests

from .framing import frame, jsonp_unwrap, unframe
from .handshake import TIMEOUT, handshake, transport_url
from .http import wait_read


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

    def hold(self, timeout: float = 10) -> HeldGet:
        """Send a GET on a connection of its own; return once the server has read it.

        The server then holds it until it has packets (or ends the poll);
        :meth:`HeldGet.payload` reads the answer.
        """
        return HeldGet(self, timeout)

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
        assert resp.status_code == 200, (resp.status_code, resp.text)
        assert resp.text == "1", (resp.status_code, resp.text)

    def wait_for(self, predicate: Callable[[str], object], polls: int = 10) -> str:
        """GET until a packet satisfies ``predicate``; return it."""
        for _ in range(polls):
            for raw in self.packets():
                if predicate(raw):
                    return raw
        raise AssertionError("the expected packet never came")

    def close(self) -> None:
        """Disconnect (a ``0::`` POST, best effort) and close the HTTP session."""
        try:
            self.post("0::")
        except requests.RequestException:
            pass
        self.http.close()


class HeldGet:
    """A polling GET the server has read and holds; :meth:`payload` waits for its answer."""

    def __init__(self, client: PollingClient, timeout: float) -> None:
        self.client = client
        parts = urlsplit(client.url)
        self.conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
        self.conn.request("GET", f"{parts.path}?t={time.time()}")
        assert self.conn.sock is not None
        wait_read(self.conn.sock)

    def payload(self) -> str:
        """The payload of the answer (unwrapped from its JSONP call); closes the connection."""
        try:
            resp = self.conn.getresponse()
            text = resp.read().decode("utf-8")
        finally:
            self.conn.close()
        assert resp.status == 200, (resp.status, text)
        return self.client.unwrap(text)

    def packets(self) -> list[str]:
        """The packets in the answer's payload."""
        return unframe(self.payload())
