"""A Socket.IO 0.9 client on the websocket transport (``websocket-client``)."""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any
from urllib.parse import urlsplit

import websocket

from .framing import event
from .handshake import TIMEOUT, handshake, parse_handshake, transport_url
from .http import keep_alive_get


class WebSocketClient:
    """A websocket session: handshake, upgrade, and the server's ``1::`` read.

    It answers heartbeats in :meth:`recv` (unless told not to) and nothing
    else by itself. Every packet :meth:`recv` returns is also kept in
    ``received``, except the acks :meth:`call` consumes.

    With ``same_connection`` the handshake and the upgrade travel on one
    keep-alive TCP connection, so they reach the same server process (what a
    sticky load balancer achieves for browsers). ``origin`` is sent as the
    ``Origin`` header; without it none is sent. ``params`` go in the
    handshake's query string.
    """

    def __init__(
        self,
        url: str,
        origin: str | None = None,
        same_connection: bool = False,
        **params: Any,
    ) -> None:
        self.url = url
        self.msgid = 0
        self.received: list[str] = []
        parts = urlsplit(url)
        options: dict[str, Any] = {"timeout": TIMEOUT}
        if same_connection:
            sock = socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT)
            fields = parse_handshake(keep_alive_get(sock, parts.netloc, "/socket.io/1/"))
            options["socket"] = sock
        else:
            fields = handshake(url, **params)
        self.sid, self.heartbeat_timeout, self.close_timeout, self.transports = fields
        self.ws = open_websocket(url, self.sid, origin=origin, **options)
        self.opening = self.ws.recv()
        assert self.opening == "1::", self.opening

    def send(self, raw: str) -> None:
        """Send one packet in a text frame."""
        self.ws.send(raw)

    def recv(self, timeout: float = TIMEOUT, answer_heartbeats: bool = True) -> str:
        """The next packet that is not a heartbeat (answered unless told not to)."""
        self.ws.settimeout(timeout)
        while True:
            raw = self.ws.recv()
            if raw == "2::":
                if answer_heartbeats:
                    self.ws.send("2::")
                continue
            self.received.append(raw)
            return raw

    def recv_until(self, wanted: str, timeout: float = TIMEOUT) -> list[str]:
        """Packets up to and including ``wanted`` (heartbeats answered and dropped)."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            raw = self.recv(max(deadline - time.monotonic(), 0.01))
            seen.append(raw)
            if raw == wanted:
                return seen

    def connect(self, endpoint: str) -> str:
        """Connect ``endpoint`` and return the server's answer."""
        self.send(f"1::{endpoint}")
        return self.recv()

    def emit(self, endpoint: str, name: str, *args: Any, msgid: int | None = None) -> None:
        """Send an event, asking for an ack with data when ``msgid`` is given."""
        self.send(event(endpoint, name, *args, msgid=msgid))

    def call(self, endpoint: str, name: str, *args: Any, msgid: int | None = None) -> list[Any]:
        """Emit asking for an ack with data; return the ack's args.

        ``msgid`` defaults to one more than the last this client used. Other
        packets that arrive first stay in ``received``.
        """
        if msgid is None:
            msgid = self.msgid + 1
        self.msgid = max(self.msgid, msgid)
        self.emit(endpoint, name, *args, msgid=msgid)
        prefix = f"6::{endpoint}:{msgid}+"
        while True:
            raw = self.recv()
            if raw.startswith(prefix):
                self.received.remove(raw)
                args_: list[Any] = json.loads(raw[len(prefix) :])
                return args_

    def read_to_close(self, timeout: float = TIMEOUT) -> tuple[list[str], int | None]:
        """Everything the server sends until it closes: (text packets, close status code)."""
        return read_to_close(self.ws, timeout)

    def reset(self) -> None:
        """Drop the TCP connection abruptly: RST, no close frame (SO_LINGER 0)."""
        raw = self.ws.sock
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()

    def close(self) -> None:
        """Close the websocket, not waiting long for the server's close frame."""
        try:
            self.ws.close(timeout=0.2)
        except Exception:
            pass


def open_websocket(url: str, sid: str, origin: str | None = None, **options: Any) -> Any:
    """A bare ``websocket-client`` connection to ``sid``'s websocket URL (no ``1::`` read).

    Sends ``origin`` as the ``Origin`` header, or no ``Origin`` at all.
    """
    options.setdefault("timeout", TIMEOUT)
    if origin is not None:
        options["origin"] = origin
    else:
        options.setdefault("suppress_origin", True)
    ws_url = transport_url(f"ws://{urlsplit(url).netloc}", "websocket", sid)
    return websocket.create_connection(ws_url, **options)


def read_to_close(ws: Any, timeout: float = TIMEOUT) -> tuple[list[str], int | None]:
    """What a ``websocket-client`` connection receives until the server closes it.

    Returns (text packets, close status code; ``None`` when the TCP connection
    just ended).
    """
    ws.settimeout(timeout)
    packets = []
    while True:
        try:
            opcode, data = ws.recv_data(control_frame=True)
        except websocket.WebSocketConnectionClosedException:
            return packets, None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
            return packets, code
        if opcode == websocket.ABNF.OPCODE_TEXT:
            packets.append(data.decode("utf-8"))
