"""The application the integration tests talk to, using only the public API.

Run it as ``python -m tests.integration.server_app --port N [--heartbeat-interval S ...]``.
Besides Socket.IO it serves:

- ``/socket.io.js``: the 0.9.16 browser client from ``tests/js/node_modules``;
- ``/page.html``: an empty page that loads it (browser tests script it);
- ``/_events``: a JSON list of the namespace hooks that ran (``[kind, ns, sessid, detail]``);
- ``/_sockets``: the session ids in ``server.sockets``;
- ``/_queued?sid=<id>``: how many packets wait in that session's ``client_queue``
  (the 0.3 attribute) for a polling GET;
- ``/_listing?ns=/chat&room=r``: :mod:`socketio.listing` by server (clients, count, rooms).
- ``/_authz_calls``: the session id of each call of ``/vip``'s ``authorize_connect``.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse
import gc
import json
import logging
import pathlib
import signal
import sys
import time
from urllib.parse import parse_qs

import gevent

from socketio import listing, socketio_manage
from socketio.exceptions import AckTimeout, SocketIOError
from socketio.mixins import BroadcastMixin, RoomsMixin
from socketio.namespace import BaseNamespace
from socketio.server import SocketIOServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIENT_JS = ROOT / "tests" / "js" / "node_modules" / "socket.io-client" / "dist" / "socket.io.js"

EVENTS: list[list] = []
SERVER: SocketIOServer | None = None
#: [sessid, seconds since start] each time socketio_manage returned (``/_ended``)
ENDED: list[list] = []
#: what the authorization hook saw: [method, path, query, origin] (``/_auth``)
AUTH_SEEN: list[list] = []
#: the session id of each call of /vip's authorize_connect (``/_authz_calls``)
AUTHZ_CALLS: list[str] = []
#: the namespaces served (``--no-global`` drops the global one)
SERVED = None
STARTED = time.monotonic()
LIFE_LOG = logging.getLogger("server_app")


def record(kind: str, ns: BaseNamespace, detail=None) -> None:
    EVENTS.append([kind, ns.ns_name, ns.socket.sessid, detail])


class Recorder:
    """Mixin recording the lifecycle hooks."""

    def initialize(self):
        record("initialize", self)

    def recv_connect(self):
        record("recv_connect", self)

    def recv_disconnect(self):
        record("recv_disconnect", self)
        self.disconnect(silent=True)


class GlobalNamespace(Recorder, BaseNamespace):
    def on_echo(self, *args):
        return args

    def on_whoami(self):
        return self.socket.sessid


class ChatNamespace(Recorder, BaseNamespace, RoomsMixin, BroadcastMixin):
    def recv_connect(self):
        super().recv_connect()
        self.emit("welcome", self.ns_name)

    # acks -----------------------------------------------------------------
    def on_echo(self, *args):
        """Returns its arguments: the client's callback gets them back."""
        return args

    def on_nothing(self):
        """Returns None: the ack carries [null]."""

    def on_ask(self, question):
        """The server emits with a callback; the client's ack args come back as 'answered'."""
        self.emit("question", question, callback=lambda *a: self.emit("answered", list(a)))

    def on_ask_within(self, question, seconds):
        """An emit with an ack timeout: the outcome comes back as 'ask_outcome'."""

        def outcome(*args):
            if len(args) == 1 and isinstance(args[0], AckTimeout):
                timeout = args[0]
                self.emit("ask_outcome", "timeout", timeout.msg_id, timeout.early)
            else:
                self.emit("ask_outcome", "acked", list(args))

        self.emit("question", question, callback=outcome, ack_timeout=seconds)

    def on_send_with_callback(self, text, as_json=False):
        """The server sends a message with a callback (auto-acked by the client)."""
        self.send(text, json=as_json, callback=lambda *a: self.emit("send_acked", text))

    def recv_message(self, data):
        record("recv_message", self, data)
        self.send(data)
        return data

    def recv_json(self, data):
        record("recv_json", self, data)
        self.send(data, json=True)
        return data

    # errors ---------------------------------------------------------------
    def on_fail(self):
        raise RuntimeError("boom (expected by the tests)")

    def on_bad_args(self, a, b):
        return [a, b]

    # disconnects ----------------------------------------------------------
    def on_kick(self):
        """The server leaves this namespace."""
        self.disconnect()

    def on_kill_socket(self):
        """The server ends the whole socket."""
        self.socket.kill(detach=True)

    # rooms and broadcast --------------------------------------------------
    def on_join(self, room):
        self.join(room)
        return sorted(self.session["rooms"])

    def on_leave(self, room):
        self.leave(room)
        return sorted(self.session["rooms"])

    def on_to_room(self, room, text):
        self.emit_to_room(room, "room_message", room, text)

    def on_broadcast(self, text):
        self.broadcast_event("broadcast", text)

    def on_broadcast_others(self, text):
        self.broadcast_event_not_me("broadcast", text)

    # who is connected (socketio.listing) ----------------------------------
    def on_who(self, room=None):
        try:
            cluster = self.cluster_count(room)
        except SocketIOError as exc:
            cluster = f"{type(exc).__name__}: {exc}"
        return {
            "clients": sorted(socket.sessid for socket in self.clients(room)),
            "count": self.count_clients(room),
            "cluster": cluster,
            "mine": sorted(self.rooms_of()),
            "rooms": sorted(self.all_rooms()),
        }

    def on_rooms_of(self, sessid):
        return sorted(self.rooms_of(sessid))

    # payloads -------------------------------------------------------------
    def on_big(self, size):
        return "x" * int(size)

    # jobs -----------------------------------------------------------------
    def on_start_job(self):
        def job():
            while True:
                gevent.sleep(0.05)

        self.spawn(job)
        return len(self.jobs)


class NewsNamespace(Recorder, BaseNamespace, BroadcastMixin):
    def on_echo(self, *args):
        return args


class PrivateNamespace(Recorder, BaseNamespace):
    """ACL: only ``on_login`` (and connect) until a login succeeds."""

    def get_initial_acl(self):
        return ["recv_connect", "on_login", "recv_disconnect"]

    def on_login(self, password):
        if password == "secret":
            self.lift_acl_restrictions()
            return True
        return False

    def on_data(self):
        return "private data"


class PacketNamespace(Recorder, BaseNamespace):
    """A handler taking the whole packet."""

    def on_raw(self, packet):
        return packet


class LifeNamespace(Recorder, BaseNamespace):
    """Lifecycle probes for ``test_lifecycle.py`` and friends.

    Records ``disconnect`` calls (with ``silent``) besides the hooks, starts
    jobs that record (and log) their own death, and lets the client trigger
    every server-side way of ending a namespace or a socket.
    """

    def disconnect(self, silent=False):
        record("disconnect", self, silent)
        super().disconnect(silent=silent)

    def _job(self, kind):
        try:
            gevent.sleep(3600)
        except gevent.GreenletExit:
            record(kind + "_killed", self)
            LIFE_LOG.info("life: %s of %s killed", kind, self.socket.sessid)
            raise

    def on_start_jobs(self):
        """One job on the namespace, one on the socket; returns the job counts."""
        self.spawn(self._job, "ns_job")
        self.socket.spawn(self._job, "socket_job")
        return [len(self.jobs), len(self.socket.jobs)]

    def on_echo(self, *args):
        return args

    def on_wait(self, seconds):
        """A handler that waits (in place, not spawned), then answers."""
        gevent.sleep(float(seconds))
        return "waited"

    def on_block(self):
        """A handler that waits for ever: only the end of the session ends it."""
        record("block_started", self)
        try:
            gevent.sleep(3600)
        except gevent.GreenletExit:
            record("block_aborted", self)
            raise

    def on_leave(self, silent=False):
        """Call ``namespace.disconnect(silent)``."""
        self.disconnect(silent=bool(silent))

    def on_disconnect_socket(self, silent=False):
        """Call ``socket.disconnect(silent)``."""
        self.socket.disconnect(silent=bool(silent))

    def on_kill_socket(self, detach=False):
        """Call ``socket.kill(detach)``."""
        self.socket.kill(detach=bool(detach))

    def on_burst(self, count, then_kill=False):
        """Emit ``count`` events without yielding; then return, or kill the socket."""
        for i in range(int(count)):
            self.emit("burst", i)
        if then_kill:
            self.socket.kill()
        return int(count)

    def on_push(self, count, size):
        """A socket job that pushes ``count`` events of ``size`` bytes as fast as it can."""
        blob = "x" * int(size)

        def pusher():
            for i in range(int(count)):
                self.emit("push", i, blob)
                gevent.sleep(0)
            LIFE_LOG.info("life: pusher of %s done", self.socket.sessid)

        self.socket.spawn(pusher)
        return True


class VolatileNamespace(BaseNamespace, BroadcastMixin):
    """Volatile pushes (tests/integration/test_volatile.py)."""

    def on_vpush(self, count, size=0, interval=0.0, broadcast=False, burst=1):
        """A job pushing ``count`` volatile ``tick`` events, then a plain ``done``.

        It yields for ``interval`` seconds after every ``burst`` of them.
        """
        blob = "x" * int(size)
        self.session["vpush_done"] = False

        def pusher():
            for i in range(int(count)):
                if broadcast:
                    self.broadcast_event("tick", i, blob, volatile=True)
                else:
                    self.emit("tick", i, blob, volatile=True)
                if not (i + 1) % int(burst):
                    gevent.sleep(float(interval))
            self.session["vpush_done"] = True
            self.emit("done", int(count))

        self.socket.spawn(pusher)
        return True

    def on_plain_push(self, count):
        """``count`` plain ``tick`` events at once (never dropped)."""
        for i in range(int(count)):
            self.emit("tick", i, "")
        return True

    def on_dropped(self):
        """``[this session's, the server's]`` volatile drops."""
        return [self.socket.volatile_dropped, self.socket.server.volatile_dropped]


class VipNamespace(Recorder, BaseNamespace):
    """Entered only with ``token=vip`` on the client's requests (the 0.9.16 client's ``query``)."""

    @staticmethod
    def authorize_connect(environ, query):
        AUTHZ_CALLS.append(environ["socketio"].sessid)
        return "token=vip" in environ.get("QUERY_STRING", "").split("&") or query == "token=vip"

    def on_echo(self, *args):
        return args


NAMESPACES = {
    "": GlobalNamespace,
    "/vip": VipNamespace,
    "/chat": ChatNamespace,
    "/news": NewsNamespace,
    "/private": PrivateNamespace,
    "/packet": PacketNamespace,
    "/life": LifeNamespace,
    "/volatile": VolatileNamespace,
}

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>socket.io test page</title>
<script src="/socket.io.js"></script></head><body><div id="log"></div></body></html>
"""


def _json(start_response, value):
    body = json.dumps(value).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/socket.io/"):
        socketio_manage(environ, SERVED or NAMESPACES, request={"app": "integration"})
        ENDED.append([environ["socketio"].sessid, round(time.monotonic() - STARTED, 3)])
        return []
    if path == "/socket.io.js":
        body = CLIENT_JS.read_bytes()
        start_response(
            "200 OK",
            [("Content-Type", "application/javascript"), ("Content-Length", str(len(body)))],
        )
        return [body]
    if path == "/page.html":
        start_response(
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(PAGE)))],
        )
        return [PAGE]
    if path == "/_events":
        return _json(start_response, EVENTS)
    if path == "/_sockets":
        return _json(start_response, sorted(SERVER.sockets) if SERVER else [])
    if path == "/_queued":
        socket = SERVER.sockets.get(parse_qs(environ["QUERY_STRING"])["sid"][0]) if SERVER else None
        return _json(start_response, socket.client_queue.qsize() if socket is not None else None)
    if path == "/_volatile":  # [the session's drops, the server's, its vpush is done]
        socket = SERVER.sockets.get(parse_qs(environ["QUERY_STRING"])["sid"][0]) if SERVER else None
        if socket is None:
            return _json(start_response, None)
        value = [socket.volatile_dropped, SERVER.volatile_dropped, socket.session.get("vpush_done")]
        return _json(start_response, value)
    if path == "/_ended":
        return _json(start_response, ENDED)
    if path == "/_auth":
        return _json(start_response, AUTH_SEEN)
    if path == "/_listing":
        query = {key: values[0] for key, values in parse_qs(environ["QUERY_STRING"]).items()}
        ns, room = query.get("ns", ""), query.get("room")
        return _json(
            start_response,
            {
                "clients": sorted(s.sessid for s in listing.clients(SERVER, ns, room)),
                "count": listing.count(SERVER, ns, room),
                "rooms": sorted(listing.all_rooms(SERVER, ns)),
            },
        )
    if path == "/_authz_calls":
        return _json(start_response, AUTHZ_CALLS)
    if path == "/_gc":
        # A full collection; on PyPy, then the bytes its heap references
        # (outside the nursery): its resident memory keeps what it freed.
        for _ in range(3):
            gc.collect()
        if not hasattr(sys, "pypy_version_info"):
            return _json(start_response, None)
        heap = gc.get_stats()._s
        return _json(start_response, heap.total_arena_memory + heap.total_rawmalloced_memory)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def _token_check(token):
    """An authorization hook that wants ``?token=<token>`` on the handshake (and records the environ)."""

    def authorize(environ):
        AUTH_SEEN.append(
            [
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
                environ.get("QUERY_STRING"),
                environ.get("HTTP_ORIGIN"),
            ]
        )
        return parse_qs(environ.get("QUERY_STRING", "")).get("token") == [token]

    return authorize


def main(argv=None) -> None:
    global SERVER
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--heartbeat-interval", type=float, default=25)
    parser.add_argument("--heartbeat-timeout", type=float, default=60)
    parser.add_argument("--close-timeout", type=float, default=60)
    parser.add_argument("--polling-duration", type=float, default=20)
    parser.add_argument("--transports", default=None)
    parser.add_argument("--origins", default="*:*")
    parser.add_argument("--policy-port", type=int, default=0, help="0: no policy server")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--manager", default=None, help="a manager URL (redis://127.0.0.1:6379/0)")
    parser.add_argument("--max-queue-size", type=int, default=None)
    parser.add_argument("--max-body-size", type=int, default=None)
    parser.add_argument("--max-message-size", type=int, default=None)
    parser.add_argument(
        "--config", default="{}", help="more server settings, as a JSON object of keywords"
    )
    parser.add_argument(
        "--authorization-token", default=None, help="handshakes must carry ?token=<this>"
    )
    parser.add_argument(
        "--no-global", nargs="?", const="1", default="", help="do not serve the global namespace"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    limits = {
        name: getattr(args, name)
        for name in ("max_queue_size", "max_body_size", "max_message_size")
        if getattr(args, name) is not None
    }
    limits.update(json.loads(args.config))
    if args.authorization_token is not None:
        limits["authorization"] = _token_check(args.authorization_token)
    if args.no_global not in ("", "0", "False"):
        global SERVED
        SERVED = {k: v for k, v in NAMESPACES.items() if k != ""}
    SERVER = SocketIOServer(
        (args.host, args.port),
        application,
        heartbeat_interval=args.heartbeat_interval,
        heartbeat_timeout=args.heartbeat_timeout,
        close_timeout=args.close_timeout,
        polling_duration=args.polling_duration,
        transports=args.transports.split(",") if args.transports else None,
        origins=args.origins,
        policy_server=bool(args.policy_port),
        policy_listener=(args.host, args.policy_port or 10843),
        manager=args.manager,
        **limits,
    )
    # SIGTERM (LiveServer.stop) stops the server as SIGINT does: sessions end first.
    gevent.signal_handler(signal.SIGTERM, SERVER.stop)
    try:
        SERVER.serve_forever()  # on SIGINT it stops the server too, then re-raises
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
