"""A small Socket.IO server for the HTTP attack tests (``test_attack_http.py``).

Run it as ``python -m tests.integration.attack_http_app --port N [--head-timeout S ...]``.
Besides Socket.IO (an ``echo`` event that acks its arguments) it serves:

- ``/upload``: reads the whole request body (the application's own route);
- ``/_stats``: JSON ``{"connections": n, "fds": n}`` (open file descriptors);
- anything else: ``ok``.

``--nofile N`` lowers this process's open-files limit (soft and hard) first,
as a server started with ``ulimit -n N``.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse
import json
import logging
import os
import resource
import signal

from socketio import socketio_manage
from socketio.namespace import BaseNamespace
from socketio.server import SocketIOServer

SERVER: SocketIOServer | None = None


class EchoNamespace(BaseNamespace):
    def on_echo(self, *args):
        return args


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/socket.io/"):
        socketio_manage(environ, {"": EchoNamespace})
        return []
    if path == "/upload":
        body = environ["wsgi.input"].read()
        text = f"read {len(body)}".encode()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(text)))]
        )
        return [text]
    if path == "/_stats":
        stats = {
            "connections": SERVER.connections.count if SERVER else 0,
            "fds": len(os.listdir("/proc/self/fd")),
        }
        body = json.dumps(stats).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def main(argv=None) -> None:
    global SERVER
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nofile", type=int, default=None)
    for name in ("head-timeout", "keepalive-timeout", "body-timeout", "polling-duration"):
        parser.add_argument(f"--{name}", type=float, default=None)
    for name in ("max-connections", "max-body-size", "max-total-body-size"):
        parser.add_argument(f"--{name}", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
    if args.nofile is not None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))
    options = {
        key: value
        for key, value in vars(args).items()
        if key not in ("port", "nofile") and value is not None
    }
    SERVER = SocketIOServer(
        ("127.0.0.1", args.port),
        application,
        policy_server=False,
        heartbeat_interval=60,
        heartbeat_timeout=120,
        **options,
    )
    signal.signal(signal.SIGTERM, lambda *_: SERVER.stop(timeout=1))
    SERVER.serve_forever()


if __name__ == "__main__":
    main()
