"""The server side of socket.io-client 0.9.16's own browser suite (``test/socket.test.js``).

The client's suite ran against a node server that gave each test its own
server and behaviour. This is that server side written with this library's
API: one :class:`~socketio.server.SocketIOServer` per test, each on a port of
its own, plus a page server that serves the harness page, the client's
``dist`` build and its test files from ``tests/js/node_modules``.

Run it as ``python -m tests.integration.client_suite_app``: it prints one JSON
line, ``{"page": port, "tests": {name: port}}``, once everything listens.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json
import pathlib
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import gevent
from gevent.pywsgi import WSGIServer

from socketio import socketio_manage
from socketio.namespace import BaseNamespace
from socketio.server import SocketIOServer
from socketio.virtsocket import Socket

CLIENT = pathlib.Path(__file__).resolve().parents[1] / "js" / "node_modules" / "socket.io-client"

#: every test of test/socket.test.js, in its order
TESTS = [
    "test connecting the socket and disconnecting",
    "test receiving messages",
    "test sending messages",
    "test manual buffer flushing",
    "test automatic buffer flushing",
    "test acks sent from client",
    "test acks sent from server",
    "test connecting to namespaces",
    "test disconnecting from namespaces",
    "test authorizing for namespaces",
    "test sending json from server",
    "test sending json from client",
    "test emitting an event from server",
    "test emitting an event to server",
    "test emitting multiple events at once to the server",
    "test emitting an event from server and sending back data",
    "test emitting an event to server and sending back data",
    "test encoding a payload",
    "test sending query strings to the server",
    "test sending newline",
    "test sending unicode",
    "test webworker connection",
]

#: The harness: the ``should`` assertions the suite uses, ``create()`` and
#: ``uri()`` as its runner defined them, and a loop that runs each test in turn
#: and records ``[name, "ok" | what went wrong]`` in ``window.results``.
PAGE = """<!doctype html><meta charset="utf-8"><title>socket.test.js</title>
<script src="/socket.io.js"></script>
<script>
var should = {}, PORTS = %(ports)s, TRANSPORTS = %(transports)s;
var current = null, results = [];
function Assertion(v) { this.v = v; }
function fail(what, want, got) {
  throw new Error(what + ' ' + JSON.stringify(want) + ', got ' + JSON.stringify(got));
}
Assertion.prototype.equal = function (x) { if (this.v !== x) fail('expected', x, this.v); };
Assertion.prototype.eql = function (x) {
  if (JSON.stringify(this.v) !== JSON.stringify(x)) fail('expected', x, this.v);
};
Object.defineProperty(Assertion.prototype, 'be_true', {
  get: function () { if (this.v !== true) fail('expected', true, this.v); }
});
Object.defineProperty(Object.prototype, 'should', {
  value: function () { return new Assertion(this.valueOf()); }, enumerable: false
});
function uri() { return 'http://127.0.0.1:' + PORTS[current]; }
function create(nsp) {
  return io.connect(uri() + (nsp || ''), {'force new connection': true, transports: TRANSPORTS});
}
window.onerror = function (msg) { results.push([current, 'uncaught: ' + msg]); next(); return true; };
</script>
<script src="/test/socket.test.js"></script>
<script>
var names = Object.keys(module.exports), k = -1, timer = null;
function next() {
  clearTimeout(timer);
  k++;
  if (k >= names.length) { window.done = true; return; }
  var me = current = names[k];
  timer = setTimeout(function () { results.push([me, 'timed out']); next(); }, 8000);
  try {
    module.exports[me](function () {
      if (current === me) { results.push([me, 'ok']); setTimeout(next, 20); }
    });
  } catch (e) { results.push([me, 'threw: ' + e.message]); next(); }
}
setTimeout(next, 0);
</script>
"""


def on_open(test: str, socket: Socket, environ: dict[str, Any]) -> None:
    """What the node server did on ``connection`` (the global namespace gets no packet)."""

    def send(pkt: dict[str, Any]) -> None:
        socket.send_packet(dict(pkt, endpoint=""))

    def ask(pkt: dict[str, Any], callback: Callable[..., Any]) -> None:
        msg_id = socket._get_next_msgid()
        socket._save_ack_callback(msg_id, callback)
        send(dict(pkt, id=msg_id))

    if test == "test receiving messages":
        for n in "123":
            send({"type": "message", "data": n})
        socket.kill()  # the client sees 'booted'
    elif test == "test acks sent from client":
        # a plain ack: the client answers it by itself
        ask(
            {"type": "message", "data": "tobi", "ack": True},
            lambda *args: send({"type": "message", "data": "tobi 2"}),
        )
    elif test == "test sending json from server":
        send({"type": "json", "data": 3141592})
    elif test == "test emitting an event from server":
        send({"type": "event", "name": "woot", "args": []})
    elif test == "test emitting an event from server and sending back data":
        ask(
            {"type": "event", "name": "woot", "args": [1], "ack": "data"},
            lambda answer: answer == "test" and send({"type": "event", "name": "done"}),
        )
    elif test == "test sending query strings to the server":
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        send({"type": "json", "data": {"query": query}})


def namespaces(test: str) -> dict[str, type[BaseNamespace]]:
    """The namespaces of one test's server."""

    class Global(BaseNamespace):
        def recv_message(self, data: str) -> None:
            if test == "test sending newline" and data == "\n":
                self.emit("done")
            elif test == "test webworker connection" and data == "woot":
                self.emit("done")
            else:
                self.send(data)  # echo

        def recv_json(self, data: Any) -> None:
            if test == "test sending json from client" and data == [1, 2, 3]:
                self.send("echo")
            elif test == "test sending unicode" and data == {"test": "☃"}:
                self.emit("done")

        def on_woot(self) -> None:
            self.emit("echo")

        def on_print(self, text: str) -> None:
            printed = self.session.setdefault("printed", [])
            printed.append(text)
            if printed == ["foo", "bar"]:
                self.emit("done")

        def on_tobi(self, a: int, b: int) -> dict[str, str]:
            return {"hello": "world"}

    class Woot(BaseNamespace):
        def recv_connect(self) -> None:
            if test == "test connecting to namespaces":
                self.send("connected to woot")

        def recv_message(self, data: str) -> None:
            received = self.session.setdefault("received", [])
            received.append(data)
            if received == ["ñ"] * 4:
                self.emit("done")

    class Chat(BaseNamespace):
        def recv_connect(self) -> None:
            self.send("connected to chat")

    class Refused(BaseNamespace):
        def recv_connect(self) -> None:
            if test == "test authorizing for namespaces":
                self.socket.send_packet(
                    {"type": "error", "endpoint": self.ns_name, "reason": "unauthorized"}
                )

    return {"": Global, "/woot": Woot, "/chat": Chat, "/a": Refused, "/b": BaseNamespace}


def socketio_app(test: str) -> Callable[..., Any]:
    served = namespaces(test)
    opened: set[str] = set()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if not environ["PATH_INFO"].startswith("/socket.io/"):
            start_response("404 Not Found", [])
            return [b""]
        socket = environ["socketio"]
        if socket.sessid not in opened:
            opened.add(socket.sessid)
            # once the transport has sent its 1::, as node's 'connection' came after it
            gevent.spawn_later(0.05, on_open, test, socket, environ)
        socketio_manage(environ, served)
        return []

    return app


def page_app(ports: dict[str, int]) -> Callable[..., Any]:
    files = {
        "/socket.io.js": CLIENT / "dist" / "socket.io.js",
        "/socket.io/socket.io.js": CLIENT / "dist" / "socket.io.js",  # the worker's
        "/test/socket.test.js": CLIENT / "test" / "socket.test.js",
        "/test/worker.js": CLIENT / "test" / "worker.js",
    }

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path == "/":
            transports = parse_qs(environ.get("QUERY_STRING", "")).get("transport", ["websocket"])
            body = PAGE % {"ports": json.dumps(ports), "transports": json.dumps(transports)}
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [body.encode()]
        if path in files:
            start_response("200 OK", [("Content-Type", "application/javascript")])
            return [files[path].read_bytes()]
        start_response("404 Not Found", [])
        return [b""]

    return app


def main() -> None:
    ports: dict[str, int] = {}
    for test in TESTS:
        server = SocketIOServer(("127.0.0.1", 0), socketio_app(test), policy_server=False, log=None)
        server.start()
        ports[test] = server.server_port
    page = WSGIServer(("127.0.0.1", 0), page_app(ports), log=None)
    page.start()
    print(json.dumps({"page": page.server_port, "tests": ports}), flush=True)
    try:
        gevent.wait()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
