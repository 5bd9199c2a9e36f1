"""A chat room over plain WSGI: the demo of the README.

    ./run demo            (from the repository root), then open http://127.0.0.1:8080/

Options: --port, and --host (127.0.0.1: this machine only; --host 0.0.0.0
serves every interface, for other machines to connect). Ctrl-C stops it.
The browser client is socket.io-client@0.9.16: the copy in the package, or
examples/node_modules' if npm installed it there.
"""

from gevent import monkey

monkey.patch_all()

import argparse
import logging
import pathlib

from socketio import socketio_manage
from socketio.mixins import BroadcastMixin, RoomsMixin
from socketio.namespace import BaseNamespace
from socketio.server import SocketIOServer

HERE = pathlib.Path(__file__).resolve().parent
CLIENT_JS = HERE.parent / "node_modules" / "socket.io-client" / "dist" / "socket.io.js"
log = logging.getLogger("chat")


class ChatNamespace(BaseNamespace, RoomsMixin, BroadcastMixin):
    """Nicknames and rooms. The client emits 'nickname', 'join' and 'say'."""

    def initialize(self):
        self.nickname = None
        self.room = None

    def on_nickname(self, nickname):
        nickname = str(nickname).strip()[:32] or "anonymous"
        self.nickname = nickname
        return nickname

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
        text = str(text)[:1000]
        self.emit_to_room(self.room, "message", self.nickname, text)
        return True  # the sender shows its own message when this ack arrives

    def recv_disconnect(self):
        if self.room and self.nickname:
            self.emit_to_room(self.room, "announcement", f"{self.nickname} left")
        self.disconnect(silent=True)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/socket.io/"):
        socketio_manage(environ, {"/chat": ChatNamespace})
        return []
    if path in ("/", "/index.html"):
        body = (HERE / "chat.html").read_bytes()
        start_response(
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = SocketIOServer(
        (args.host, args.port),
        application,
        policy_server=False,
        # (without examples/node_modules, the copy in the package is served)
        client_js=str(CLIENT_JS) if CLIENT_JS.exists() else None,
    )
    log.info("chat on http://%s:%d/", args.host, args.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
