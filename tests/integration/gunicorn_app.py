"""The WSGI application of the gunicorn tests.

Served as ``gunicorn -k socketio.sgunicorn.GeventSocketIOWorker
tests.integration.gunicorn_app:application``; gunicorn's gevent worker does
the monkey-patching. Plain requests answer the worker's pid, so the tests can
tell which worker served them.
"""

from __future__ import annotations

import os
import time

import gevent

from socketio import socketio_manage
from socketio.mixins import BroadcastMixin
from socketio.namespace import BaseNamespace
from socketio.sgunicorn import GeventSocketIOWorker


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


def application(environ, start_response):
    if environ["PATH_INFO"].startswith("/socket.io/"):
        socketio_manage(environ, {"/echo": EchoNamespace})
        return []
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class SlowBootWorker(GeventSocketIOWorker):
    """The default worker, two seconds slower to boot: it logs ``patching``, then sleeps.

    The sleep comes before gevent's monkey-patching, which gunicorn's
    signal handlers follow: a test can stop the worker in that window.
    """

    def patch(self):
        self.log.info("patching")
        time.sleep(2)
        super().patch()
