"""The Socket.IO namespaces of the chat app, found by ``sdjango.autodiscover()``."""

import logging

from socketio.mixins import BroadcastMixin, RoomsMixin
from socketio.namespace import BaseNamespace
from socketio.sdjango import namespace

log = logging.getLogger(__name__)


@namespace("/chat")
class ChatNamespace(BaseNamespace, RoomsMixin, BroadcastMixin):
    """Nicknames and rooms. The client emits 'nickname', 'join' and 'say'."""

    def initialize(self):
        self.nickname = None
        self.room = None
        # self.request is the Django HttpRequest that opened the socket.
        log.info("new socket from %s", self.request.META.get("REMOTE_ADDR"))

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
