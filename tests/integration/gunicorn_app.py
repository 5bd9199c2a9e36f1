"""The WSGI application of the gunicorn tests.

Served as ``gunicorn -k socketio.sgunicorn.GeventSocketIOWorker
tests.integration.gunicorn_app:application``; gunicorn's gevent worker does
the monkey-patching. Plain requests answer the worker's pid, so the tests can
tell which worker served them; ``/_held?sid=<id>`` answers whether a polling
GET of that session waits at this worker (a getter waits on its
``client_queue``, the 0.3 attribute).
"""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs

import gevent

from socketio import socketio_manage
from socketio.mixins import BroadcastMixin
from socketio.namespace import BaseNamespace


class EchoNamespace(BaseNamespace, BroadcastMixin):
    def on_echo(self, *args):
        return args

    def on_pid(self):
        return os.getpid()

    def on_sleep(self, seconds):
        gevent.sleep(seconds)
        return "slept"

    def on_shout(self, text):
        self.broadcast_event("shout", text, os.getpid())


#: the sessions this worker served, by id (a test process: they are few)
SESSIONS: dict = {}


def application(environ, start_response):
    if environ["PATH_INFO"].startswith("/socket.io/"):
        socket = environ.get("socketio")
        if socket is not None:
            SESSIONS[socket.sessid] = socket
        socketio_manage(environ, {"/echo": EchoNamespace})
        return []
    if environ["PATH_INFO"] == "/_held":
        socket = SESSIONS.get(parse_qs(environ["QUERY_STRING"])["sid"][0])
        body = json.dumps(bool(socket is not None and socket.client_queue.getters)).encode()
    else:
        body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
