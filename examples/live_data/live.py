"""Live data push: the server streams numbers, the page plots them on a <canvas>.

The points are volatile emits: a client that cannot take one when it is
pushed (a polling client between two polls, a slow websocket) skips it
instead of falling behind. The server counts what it serves (``metrics``):
``/stats`` gives a few of its numbers (the page shows them), among them how
many points were skipped.

Run it from the repository root with ``./run example live_data`` (or, with
gevent-socketio installed, ``python live.py``), then open
http://127.0.0.1:8081/. Options: ``--host``, ``--port``, and ``--metrics-port
9102`` to serve the server's metrics to Prometheus at
http://127.0.0.1:9102/metrics (needs ``prometheus_client``).
"""

from gevent import monkey

monkey.patch_all()

import argparse
import json
import logging
import pathlib
import random

import gevent

from socketio import socketio_manage
from socketio.namespace import BaseNamespace
from socketio.server import SocketIOServer

HERE = pathlib.Path(__file__).resolve().parent
CLIENT_JS = HERE.parent / "node_modules" / "socket.io-client" / "dist" / "socket.io.js"
log = logging.getLogger("live_data")


class FeedNamespace(BaseNamespace):
    """'/feed': once connected, the client receives ``point(n, value)`` events.

    The client may change the rate with ``emit('rate', per_second, callback)``.
    Points are volatile: a gap in ``n`` is a point the client could not take
    when it was pushed (live data is worth nothing late).
    """

    def initialize(self):
        self.rate = 10.0

    def recv_connect(self):
        # A greenlet per client, killed with the namespace when it goes away.
        self.spawn(self.stream)

    def on_rate(self, per_second):
        self.rate = max(1.0, min(float(per_second), 50.0))
        return self.rate

    def stream(self):
        value = 50.0
        n = 0
        while True:
            value = min(100.0, max(0.0, value + random.uniform(-4, 4)))
            n += 1
            self.emit("point", n, round(value, 2), volatile=True)
            gevent.sleep(1 / self.rate)


class LiveApp:
    """The WSGI application: Socket.IO, the page, and ``/stats`` about the server."""

    def __init__(self):
        self.server = None  # set once the server is made (it takes this application)

    def stats(self):
        """What ``/stats`` reports (JSON): a few numbers of the server's metrics snapshot."""
        snap = self.server.metrics_snapshot()
        traffic = snap["traffic"].values()
        return {
            "sessions": sum(snap["sessions"].values()),
            "by_transport": snap["sessions"],
            "volatile_dropped": snap["volatile_dropped"],
            "packets_sent": sum(counts["packets_out"] for counts in traffic),
            "bytes_sent": sum(counts["bytes_out"] for counts in traffic),
            "disconnects": snap["disconnects"],
        }

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        if path.startswith("/socket.io/"):
            socketio_manage(environ, {"/feed": FeedNamespace})
            return []
        if path in ("/", "/index.html"):
            return _respond(
                start_response, "text/html; charset=utf-8", (HERE / "index.html").read_bytes()
            )
        if path == "/stats":
            return _respond(start_response, "application/json", json.dumps(self.stats()).encode())
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]


def _respond(start_response, content_type, body):
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--metrics-port", type=int, default=None, help="Prometheus, on 127.0.0.1")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # (metrics on a listener of their own, reachable from this host only)
    metrics = {"metrics_listener": ("127.0.0.1", args.metrics_port)} if args.metrics_port else {}
    application = LiveApp()
    server = application.server = SocketIOServer(
        (args.host, args.port),
        application,
        policy_server=False,
        client_js=str(CLIENT_JS) if CLIENT_JS.exists() else None,
        metrics=True,  # count packets, bytes, disconnects (read by /stats)
        **metrics,
    )
    log.info("live data on http://%s:%d/", args.host, args.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
