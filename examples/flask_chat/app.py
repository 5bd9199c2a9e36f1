"""A chat in a Flask application, its Socket.IO sessions served by ``SocketIOMiddleware``.

Run it from the repository root with ``./run example flask_chat`` (or, with
Flask and gevent-socketio installed, ``python app.py``), then open
http://127.0.0.1:5000/ in two browser tabs. Options: ``--host``, ``--port``.
"""

from gevent import monkey

monkey.patch_all()

import argparse
import logging
import pathlib

from flask import Flask, Request, render_template

from socketio.middleware import SocketIOMiddleware
from socketio.mixins import BroadcastMixin, RoomsMixin
from socketio.namespace import BaseNamespace
from socketio.server import SocketIOServer

HERE = pathlib.Path(__file__).resolve().parent
# The browser client from the npm package socket.io-client@0.9.16 (installed in
# examples/node_modules by ./run); None lets the server search node_modules
# above the working directory.
CLIENT_JS = HERE.parent / "node_modules" / "socket.io-client" / "dist" / "socket.io.js"

log = logging.getLogger("flask_chat")
app = Flask(__name__)


class ChatNamespace(BaseNamespace, RoomsMixin, BroadcastMixin):
    """Nicknames and rooms. The client emits 'nickname', 'join' and 'say'."""

    def initialize(self):
        self.nickname = None
        self.room = None
        # self.request is a Flask request of the session's environ (make_request).
        log.info("new socket from %s", self.request.remote_addr)

    def on_nickname(self, nickname):
        self.nickname = str(nickname).strip()[:32] or "anonymous"
        return self.nickname

    def on_join(self, room):
        room = str(room).strip()[:32] or "lobby"
        if self.room:
            self.emit_to_room(self.room, "announcement", f"{self.nickname} left")
            self.leave(self.room)
        self.room = room
        self.join(room)
        self.emit_to_room(room, "announcement", f"{self.nickname} joined")
        return room

    def on_say(self, text):
        if not self.room or not self.nickname:
            return False
        self.emit_to_room(self.room, "message", self.nickname, str(text)[:1000])
        return True

    def recv_disconnect(self):
        if self.room and self.nickname:
            self.emit_to_room(self.room, "announcement", f"{self.nickname} left")
        self.disconnect(silent=True)


@app.route("/")
def index():
    return render_template("chat.html", title="Flask chat")


# The middleware serves /socket.io/ before Flask's router sees it: Werkzeug 2
# and newer route a websocket upgrade only to rules declared websocket=True, so
# a view registered as in gevent-socketio 0.3's example
# (@app.route("/socket.io/<path:remaining>") calling socketio_manage) never
# gets the websocket sessions. Everything else goes to Flask.
application = SocketIOMiddleware(app, {"/chat": ChatNamespace}, make_request=Request)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = SocketIOServer(
        (args.host, args.port),
        application,
        policy_server=False,
        client_js=str(CLIENT_JS) if CLIENT_JS.exists() else None,
    )
    log.info("Flask chat on http://%s:%d/", args.host, args.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
