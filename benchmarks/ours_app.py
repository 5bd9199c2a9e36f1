"""The benchmark application on this library, served by :class:`SocketIOServer`.

    python benchmarks/ours_app.py PORT [--access-log]

The global namespace answers ``echo`` with its arguments (event with ack) and
turns ``broadcast`` into a ``tick`` event with the same arguments for every
connected socket (a broadcast, encoded once). The same application as
``reference_server.js``. Logging stays at WARNING and the access log is off
(pass ``--access-log`` to keep pywsgi's per-request line on stderr).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse
import logging
import sys
from typing import Any

from socketio import socketio_manage
from socketio.mixins import BroadcastMixin
from socketio.namespace import BaseNamespace
from socketio.server import SocketIOServer


class BenchNamespace(BaseNamespace, BroadcastMixin):
    """The benchmarks' namespace: an echo and a broadcast."""

    def on_echo(self, *args: Any) -> Any:
        """Answer the ack with the event's arguments."""
        return args

    def on_broadcast(self, *args: Any) -> None:
        """Broadcast ``tick`` with the arguments to every session."""
        self.broadcast_event("tick", *args)


NAMESPACES = {"": BenchNamespace}


def application(environ: dict, start_response: Any) -> list[bytes]:
    """Serve Socket.IO under ``/socket.io/`` and 404 elsewhere."""
    if environ.get("PATH_INFO", "").startswith("/socket.io/"):
        socketio_manage(environ, NAMESPACES)
        return []
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def make_server(port: int, access_log: bool = False, host: str = "127.0.0.1") -> SocketIOServer:
    """The Socket.IO server under test on ``host``:``port`` (no policy server)."""
    kwargs: dict[str, Any] = {"policy_server": False}
    if not access_log:
        kwargs["log"] = None
    return SocketIOServer((host, port), application, **kwargs)


def main(argv: list[str] | None = None) -> None:
    """Serve the benchmarks' app on the port given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    import socketio

    print(f"serving {socketio.__file__}", file=sys.stderr, flush=True)
    server = make_server(args.port, args.access_log)
    server.serve_forever()


if __name__ == "__main__":
    main()
