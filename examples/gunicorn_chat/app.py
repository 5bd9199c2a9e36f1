"""The chat under gunicorn: four workers, a Redis manager, no sticky routing.

    ./run example gunicorn_chat      (from the repository root; serve.py starts it all)

``gunicorn -k app.Worker -w 4 app:application`` with ``CHAT_REDIS_URL`` naming
the Redis the workers share. Every answer and message says which worker
(process id) holds the session: a session lives in the worker that answered
its handshake, whichever workers its later requests reach (polling requests
are forwarded to it, a websocket is adopted), and a message reaches the
clients of every worker through Redis.
"""

import os
import pathlib

from socketio import socketio_manage
from socketio.mixins import BroadcastMixin
from socketio.namespace import BaseNamespace
from socketio.sgunicorn import GeventSocketIOWorker

HERE = pathlib.Path(__file__).resolve().parent
CLIENT_JS = HERE.parent / "node_modules" / "socket.io-client" / "dist" / "socket.io.js"


class Worker(GeventSocketIOWorker):
    """The default worker, its rooms and broadcasts shared through Redis."""

    socketio_options = {
        "manager": os.environ.get("CHAT_REDIS_URL", "redis://127.0.0.1:6379/0"),
        # (without examples/node_modules, the copy in the package is served)
        "client_js": str(CLIENT_JS) if CLIENT_JS.exists() else None,
    }


class ChatNamespace(BaseNamespace, BroadcastMixin):
    """One room for everybody. The client emits 'nickname' and 'say'."""

    def initialize(self):
        self.nickname = None

    def on_nickname(self, nickname):
        self.nickname = str(nickname).strip()[:32] or "anonymous"
        self.broadcast_event_not_me("announcement", f"{self.nickname} joined", os.getpid())
        return [self.nickname, os.getpid()]

    def on_say(self, text):
        if not self.nickname:
            return False
        self.broadcast_event("message", self.nickname, str(text)[:1000], os.getpid())
        return True

    def recv_disconnect(self):
        if self.nickname:
            self.broadcast_event_not_me("announcement", f"{self.nickname} left", os.getpid())
        self.disconnect(silent=True)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/socket.io/"):
        socketio_manage(environ, {"/chat": ChatNamespace})
        return []
    if path in ("/", "/index.html"):
        body = (HERE / "index.html").read_bytes()
        start_response(
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]
