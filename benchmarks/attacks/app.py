"""The server the attack benchmarks aim at: :class:`SocketIOServer` with an echo namespace.

    python -m benchmarks.attacks.app --port PORT [--config JSON] [--nofile N]

The global namespace answers ``echo`` with its arguments (an event with an
ack), ``pair(a, b)`` with its two, ``whereami`` with the client address the
application saw, turns ``broadcast`` into a ``tick`` for every socket, and
spends ``ms`` milliseconds of CPU on ``work(ms)``. ``--config`` holds
keyword arguments for the server (``{"max_connections": 100}``); the library
logs at INFO on stderr (the attacks count its lines), the access log is off.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse
import json
import logging
import resource
import signal
import sys
import time
from typing import Any

import gevent

from socketio import socketio_manage
from socketio.mixins import BroadcastMixin
from socketio.namespace import BaseNamespace
from socketio.server import SocketIOServer


class EchoNamespace(BaseNamespace, BroadcastMixin):
    """The attacks' namespace: an echo, a broadcast, and a handler of exactly two arguments."""

    def on_echo(self, *args: Any) -> Any:
        """Answer the ack with the event's arguments."""
        return args

    def on_broadcast(self, *args: Any) -> str:
        """Broadcast ``tick`` with the arguments to every session; ack ``sent``."""
        self.broadcast_event("tick", *args)
        return "sent"

    def on_work(self, ms: float) -> None:
        """Keep the CPU busy for ``ms`` milliseconds (a handler that costs something)."""
        deadline = time.perf_counter() + min(float(ms), 10.0) / 1000
        while time.perf_counter() < deadline:
            pass

    def on_whereami(self) -> list[Any]:
        """Answer the ack with the client address the application saw.

        ``REMOTE_ADDR`` and the ``X-Socketio-Forwarded`` header of the request
        that opened the session.
        """
        environ = self.environ
        return [environ.get("REMOTE_ADDR"), environ.get("HTTP_X_SOCKETIO_FORWARDED")]

    def on_pair(self, a: Any, b: Any) -> list[Any]:
        # two arguments exactly: a client sending one makes a mistake the
        # attacks count (on_echo takes any number)
        """Answer the ack with both arguments (exactly two, or the call is a client mistake)."""
        return [a, b]


NAMESPACES = {"": EchoNamespace}


def application(environ: dict, start_response: Any) -> list[bytes]:
    """Serve Socket.IO under ``/socket.io/`` and 404 elsewhere."""
    if environ.get("PATH_INFO", "").startswith("/socket.io/"):
        socketio_manage(environ, NAMESPACES)
        return []
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def main(argv: list[str] | None = None) -> None:
    """Serve the attacks' app on ``--port`` with the server keywords of ``--config``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", default="{}", help="server keyword arguments, as JSON")
    parser.add_argument("--nofile", type=int, default=0, help="the open-files limit to run with")
    args = parser.parse_args(argv)
    if args.nofile:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, hard))
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )
    options: dict[str, Any] = {"policy_server": False, "log": None}
    options.update(json.loads(args.config))
    server = SocketIOServer(("127.0.0.1", args.port), application, **options)
    gevent.signal_handler(signal.SIGTERM, server.stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
