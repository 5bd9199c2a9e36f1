"""gevent-socketio 0.3's Flask chat pattern, as ported apps have it, for the routing tests.

The view is registered with ``@app.route('/socket.io/<path:remaining>')`` only,
which Werkzeug 2 and newer do not match for websocket requests.
``--middleware 1`` wraps the application in :class:`socketio.middleware.SocketIOMiddleware`.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse
import logging

from flask import Flask, Request, Response, request

from socketio import socketio_manage
from socketio.middleware import SocketIOMiddleware
from socketio.namespace import BaseNamespace
from socketio.server import SocketIOServer

app = Flask(__name__)


class EchoNamespace(BaseNamespace):
    """Answers 'echo' with its arguments and says where its request came from."""

    def on_echo(self, *args):
        return [*args, type(self.request).__name__]


@app.route("/socket.io/<path:remaining>")
def socketio_view(remaining):
    socketio_manage(request.environ, {"/echo": EchoNamespace}, request._get_current_object())
    return Response()


@app.route("/")
def index():
    return "flask index"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--middleware", default="0")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    application = app
    if args.middleware == "1":
        application = SocketIOMiddleware(app, {"/echo": EchoNamespace}, make_request=Request)
    SocketIOServer(("127.0.0.1", args.port), application, policy_server=False).serve_forever()


if __name__ == "__main__":
    main()
