"""A small Socket.IO 0.9 client for the integration tests of the integrations.

It speaks the wire format by hand (``websocket-client`` for websockets,
``requests`` for xhr-polling), independently of :mod:`socketio.packet`, so the
servers are checked against the protocol. Used by the gunicorn, Django, paste,
Flask and example tests.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import requests
import websocket

TIMEOUT = 5
FRAME = "\ufffd"


def handshake(url: str, session: requests.Session | None = None) -> list[str]:
    """``GET /socket.io/1/``: ``[sid, heartbeat timeout, close timeout, transports]``."""
    resp = (session or requests).get(url + "/socket.io/1/", timeout=TIMEOUT)
    assert resp.status_code == 200, (resp.status_code, resp.text)
    return resp.text.split(":")


def wait_http(url: str, timeout: float = 20, proc: Any = None) -> None:
    """Wait until ``url`` answers any HTTP status (the server is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def event(endpoint: str, name: str, *args: Any, msgid: int | None = None) -> str:
    """An event packet, asking for an ack with data when ``msgid`` is given."""
    ident = f"{msgid}+" if msgid else ""
    return f"5:{ident}:{endpoint}:" + json.dumps({"name": name, "args": list(args)})


def parse(raw: str) -> dict[str, Any]:
    """Split a packet into ``type``, ``id``, ``endpoint`` and ``data`` (JSON decoded for 5 and 6)."""
    ptype, msgid, endpoint, *rest = raw.split(":", 3)
    data: Any = rest[0] if rest else ""
    if ptype == "5":
        data = json.loads(data)
    elif ptype == "6":
        ack_id, _, args = data.partition("+")
        data = {"ackId": int(ack_id), "args": json.loads(args) if args else []}
    return {"type": int(ptype), "id": msgid, "endpoint": endpoint, "data": data}


class WebSocketClient:
    """A 0.9 client on the websocket transport.

    With ``same_connection`` the handshake and the websocket upgrade travel on
    one keep-alive TCP connection, so they reach the same server process (what
    a sticky load balancer achieves for browsers).
    """

    def __init__(self, url: str, same_connection: bool = False, origin: str | None = None) -> None:
        self.url = url
        self.msgid = 0
        self.received: list[str] = []
        parts = urlsplit(url)
        sock = None
        if same_connection:
            sock = socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT)
            fields = _http_get(sock, parts.netloc, "/socket.io/1/")
        else:
            fields = handshake(url)
        self.sid, self.heartbeat_timeout, self.close_timeout, self.transports = fields
        options: dict[str, Any] = {"timeout": TIMEOUT}
        if sock is not None:
            options["socket"] = sock
        if origin is not None:
            options["origin"] = origin
        self.ws = websocket.create_connection(
            f"ws://{parts.netloc}/socket.io/1/websocket/{self.sid}", **options
        )
        self.opening = self.ws.recv()

    def send(self, raw: str) -> None:
        self.ws.send(raw)

    def recv(self, timeout: float = TIMEOUT) -> str:
        """The next packet that is not a heartbeat (heartbeats are answered)."""
        self.ws.settimeout(timeout)
        while True:
            raw = self.ws.recv()
            if raw == "2::":
                self.ws.send("2::")
                continue
            self.received.append(raw)
            return raw

    def connect(self, endpoint: str) -> str:
        self.send(f"1::{endpoint}")
        return self.recv()

    def emit(self, endpoint: str, name: str, *args: Any) -> list[Any]:
        """Emit with a callback; return the ack's arguments (other packets are kept)."""
        self.msgid += 1
        self.send(event(endpoint, name, *args, msgid=self.msgid))
        prefix = f"6::{endpoint}:{self.msgid}+"
        while True:
            raw = self.recv()
            if raw.startswith(prefix):
                self.received.remove(raw)
                return json.loads(raw[len(prefix) :])

    def close(self) -> None:
        try:
            self.ws.close()
        except OSError:
            pass


class PollingClient:
    """A 0.9 client on the xhr-polling transport (one keep-alive HTTP session)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.sid, self.heartbeat_timeout, self.close_timeout, self.transports = handshake(
            url, self.http
        )
        self.endpoint_url = f"{url}/socket.io/1/xhr-polling/{self.sid}"
        self.msgid = 0

    def get(self, timeout: float = 30) -> list[str]:
        resp = self.http.get(self.endpoint_url, params={"t": time.time()}, timeout=timeout)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return unframe(resp.text)

    def post(self, *packets: str) -> None:
        body = (
            packets[0]
            if len(packets) == 1
            else "".join(f"{FRAME}{len(p)}{FRAME}{p}" for p in packets)
        )
        resp = self.http.post(self.endpoint_url, data=body.encode("utf-8"), timeout=TIMEOUT)
        assert resp.status_code == 200 and resp.text == "1", (resp.status_code, resp.text)

    def wait_for(self, predicate: Any, polls: int = 10) -> str:
        """GET until a packet satisfies ``predicate``; return it."""
        for _ in range(polls):
            for raw in self.get():
                if predicate(raw):
                    return raw
        raise AssertionError("the expected packet never came")


def unframe(body: str) -> list[str]:
    """Split a polling body into packets (a bare body is one packet)."""
    if not body.startswith(FRAME):
        return [body]
    packets = []
    pos = 0
    while pos < len(body):
        sep = body.index(FRAME, pos + 1)
        length = int(body[pos + 1 : sep])
        packets.append(body[sep + 1 : sep + 1 + length])
        pos = sep + 1 + length
    return packets


def _http_get(sock: socket.socket, host: str, path: str) -> list[str]:
    """A keep-alive GET on ``sock``; returns the handshake fields of the body."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "connection closed during the handshake"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].split()[1] == "200", lines[0]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(4096)
        assert chunk, "connection closed during the handshake"
        body += chunk
    return body.decode("utf-8").split(":")
