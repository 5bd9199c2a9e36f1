"""Helpers shared by the lifecycle, timer, limit, hostile-input and security tests.

- :class:`NodeClient` drives the real socket.io-client 0.9.16 in node
  (``tests/js/lifecycle_client.js``) command by command, so a test can act on
  the server between two client steps.
- :class:`WsClient` is a wire-level websocket client (``websocket-client``)
  that answers nothing by itself: heartbeats are the test's business.
- :func:`hooks`, :func:`wait_gone` and friends read the test application's
  ``/_events``, ``/_sockets`` and ``/_ended``.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
import websocket

from .conftest import NODE_MODULES, LiveServer
from .wire import TIMEOUT, handshake

LIFECYCLE_JS = NODE_MODULES.parent / "lifecycle_client.js"


class NodeClient:
    """The real 0.9.16 client in a node process, one command at a time.

    ``call(cmd, **fields)`` sends a command to ``lifecycle_client.js`` and
    returns its result, failing with the client's own message.
    """

    def __init__(self, url: str) -> None:
        node = shutil.which("node")
        assert node, "node is not on PATH"
        self.proc = subprocess.Popen(
            [node, str(LIFECYCLE_JS), url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            cwd=LIFECYCLE_JS.parent,
        )
        self._replies: queue.Queue[dict] = queue.Queue()
        self._pending: dict[int, dict] = {}
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self._replies.put(json.loads(line))
        self._replies.put({"id": None, "eof": True})

    def call(self, cmd: str, timeout: float = 10, **fields: Any) -> Any:
        self._next_id += 1
        ident = self._next_id
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"id": ident, "cmd": cmd, **fields}) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while ident not in self._pending:
            left = deadline - time.monotonic()
            try:
                reply = self._replies.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError(f"node client: no answer to {cmd} {fields}") from None
            if reply.get("eof"):
                raise AssertionError(f"node client exited: {self.stderr()}")
            self._pending[reply["id"]] = reply
        reply = self._pending.pop(ident)
        if not reply["ok"]:
            raise AssertionError(f"node client, {cmd} {fields}: {reply['error']}")
        return reply["result"]

    def connect(self, label: str, ns: str, transport: str, **options: Any) -> str:
        """A new client socket; returns its session id."""
        result = self.call("connect", label=label, ns=ns, transport=transport, options=options)
        assert result["transport"] == transport, result
        return result["sessionid"]

    def emit(self, label: str, event: str, *args: Any, ack: bool = False) -> Any:
        return self.call("emit", label=label, event=event, args=list(args), ack=ack)

    def wait(self, label: str, event: str, ms: int = 5000) -> Any:
        return self.call("wait", label=label, event=event, ms=ms, timeout=ms / 1000 + 5)

    def events(self, label: str | None = None) -> list[tuple[str, str, Any]]:
        """``(label, event, args)`` of every event seen (heartbeats excluded)."""
        log = self.call("log")["log"]
        return [(e["c"], e["e"], e["a"]) for e in log if label is None or e["c"] == label]

    def wire(self, direction: str | None = None) -> list[str]:
        """Packets decoded (``in``) or encoded (``out``) by the client."""
        return [w[1] for w in self.call("log")["wire"] if direction in (None, w[0])]

    def stderr(self) -> str:
        try:
            self.proc.wait(1)
        except subprocess.TimeoutExpired:
            return "(still running)"
        return self.proc.stderr.read() if self.proc.stderr else ""

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call("exit", timeout=2)
            except (AssertionError, OSError):
                pass
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


class WsClient:
    """A websocket session on the wire: handshake, upgrade, ``1::`` read."""

    def __init__(self, url: str, origin: str | None = None, **params: Any) -> None:
        self.sid = handshake(url, **params)
        netloc = urlsplit(url).netloc
        options: dict[str, Any] = {"timeout": TIMEOUT}
        if origin is not None:
            options["origin"] = origin
        else:
            options["suppress_origin"] = True
        self.ws = websocket.create_connection(
            f"ws://{netloc}/socket.io/1/websocket/{self.sid}", **options
        )
        assert self.ws.recv() == "1::"

    def send(self, raw: str) -> None:
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

    def emit(self, endpoint: str, name: str, *args: Any, msgid: int | None = None) -> None:
        ident = f"{msgid}+" if msgid else ""
        self.send(f"5:{ident}:{endpoint}:" + json.dumps({"name": name, "args": list(args)}))

    def call(self, endpoint: str, name: str, *args: Any, msgid: int = 1) -> list:
        """Emit asking for an ack with data; return the ack's args."""
        self.emit(endpoint, name, *args, msgid=msgid)
        prefix = f"6::{endpoint}:{msgid}+"
        while True:
            raw = self.recv()
            if raw.startswith(prefix):
                return json.loads(raw[len(prefix) :])

    def read_to_close(self, timeout: float = TIMEOUT) -> tuple[list[str], int | None]:
        """Everything the server sends until it closes: (text packets, close status code)."""
        return read_to_close(self.ws, timeout)

    def reset(self) -> None:
        """Drop the TCP connection abruptly: RST, no close frame (SO_LINGER 0)."""
        raw = self.ws.sock
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()

    def close(self) -> None:
        try:
            self.ws.close(timeout=0.2)
        except Exception:
            pass


def read_to_close(ws: Any, timeout: float = TIMEOUT) -> tuple[list[str], int | None]:
    """What a websocket-client connection receives until the server closes it:
    (text packets, close status code; ``None`` when the TCP connection just ended)."""
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


def open_websocket(url: str, sid: str, **options: Any) -> Any:
    """A bare websocket-client connection to ``sid``'s websocket URL (no ``1::`` read)."""
    options.setdefault("timeout", TIMEOUT)
    if "origin" not in options:
        options.setdefault("suppress_origin", True)
    return websocket.create_connection(
        f"ws://{urlsplit(url).netloc}/socket.io/1/websocket/{sid}", **options
    )


def hooks(server: LiveServer, sid: str, ns: str | None = None) -> list[tuple]:
    """``(kind, namespace, detail)`` of the hooks that ran for session ``sid``."""
    return [
        (kind, name, detail)
        for kind, name, s, detail in server.events()
        if s == sid and (ns is None or name == ns)
    ]


def kinds(server: LiveServer, sid: str) -> list[str]:
    return [kind for kind, _, _ in hooks(server, sid)]


def ended(server: LiveServer, sid: str) -> bool:
    """``socketio_manage`` returned for ``sid``."""
    return any(s == sid for s, _ in server.get_json("/_ended"))


def wait_for(predicate: Callable[[], Any], timeout: float = 5, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def wait_gone(server: LiveServer, sid: str, timeout: float = 5) -> float:
    """Wait until ``sid`` left ``server.sockets``; return how long it took."""
    start = time.monotonic()
    wait_for(lambda: sid not in server.sockets(), timeout, f"{sid} to leave server.sockets")
    return time.monotonic() - start


def errors_in_log(server: LiveServer, offset: int = 0) -> list[str]:
    """Tracebacks and ERROR lines logged since ``offset``."""
    text = server.log()[offset:]
    return [
        line
        for line in text.splitlines()
        if line.startswith(("ERROR", "CRITICAL", "Traceback")) or "Traceback" in line
    ]


class ResettableProxy:
    """A TCP proxy to ``127.0.0.1:<port>`` whose connections the test can reset at will.

    ``url`` points at the proxy; :meth:`reset` sends an RST to both the client
    and the server of every open connection (a network failure: no close frame,
    no FIN), while new connections keep being accepted.
    """

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def reset(self) -> int:
        """RST every open connection, both ways; return how many were open."""
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.close()
                except OSError:
                    pass
        return len(pairs)

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        self.reset()


JSONP_RE = re.compile(r'io\.j\[(\d+)\]\(("(?:[^"\\]|\\.)*")\);\Z', re.DOTALL)


class PollingSession:
    """A wire-level xhr-polling or jsonp-polling session (its first GET already made).

    ``get()`` returns the payload of one GET (unwrapped from its JSONP call),
    ``post(body)`` sends a payload (as the form field ``d`` for JSONP).
    """

    def __init__(self, url: str, transport: str = "xhr-polling", sid: str | None = None) -> None:
        self.transport = transport
        self.http = requests.Session()
        self.sid = sid or handshake(url)
        self.url = f"{url}/socket.io/1/{transport}/{self.sid}"
        if sid is None:
            assert self.get() == "1::"

    def unwrap(self, text: str) -> str:
        if self.transport != "jsonp-polling":
            return text
        match = JSONP_RE.match(text)
        assert match, text
        return json.loads(match.group(2))

    def get(self, timeout: float = 10, **headers: str) -> str:
        resp = self.http.get(self.url, params={"t": time.time()}, timeout=timeout, headers=headers)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return self.unwrap(resp.text)

    def post(self, body: str, **headers: str) -> requests.Response:
        if self.transport == "jsonp-polling":
            return self.http.post(
                self.url, data={"d": json.dumps(body)}, timeout=TIMEOUT, headers=headers
            )
        return self.http.post(self.url, data=body.encode("utf-8"), timeout=TIMEOUT, headers=headers)
