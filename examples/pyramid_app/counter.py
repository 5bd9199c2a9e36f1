"""A Pyramid application behind gevent-socketio's paste server runner.

A shared counter: every page shows the same number, and a click on any page
increments it for everybody. Run it from the repository root with
``./run example pyramid_app``, or from this directory with
``python -m pyramid.scripts.pserve development.ini``, then open
http://127.0.0.1:6543/ in two tabs.
"""

import logging
import pathlib

from pyramid.config import Configurator
from pyramid.response import Response

from socketio import socketio_manage
from socketio.mixins import BroadcastMixin
from socketio.namespace import BaseNamespace

HERE = pathlib.Path(__file__).resolve().parent
log = logging.getLogger(__name__)


class CounterNamespace(BaseNamespace, BroadcastMixin):
    """'/counter': the client emits 'increment'; everybody receives 'count'."""

    def recv_connect(self):
        self.emit("count", self.counter["value"])

    @property
    def counter(self):
        # self.request is the Pyramid request that opened the socket.
        return self.request.registry.counter

    def on_increment(self, by=1):
        by = max(1, min(int(by), 100))
        self.counter["value"] += by
        self.broadcast_event("count", self.counter["value"])
        return self.counter["value"]


def index(request):
    return Response((HERE / "index.html").read_text(encoding="utf-8"), content_type="text/html")


def socketio_service(request):
    """Every /socket.io/ request; called once per socket, returns when it ends."""
    socketio_manage(request.environ, {"/counter": CounterNamespace}, request=request)
    return Response("")


def main(global_config, **settings):
    """The paste app factory named in development.ini (``use = call:counter:main``)."""
    config = Configurator(settings=settings)
    config.registry.counter = {"value": int(settings.get("counter.start", 0))}
    config.add_route("index", "/")
    config.add_view(index, route_name="index")
    config.add_route("socketio", "/socket.io/*remaining")
    config.add_view(socketio_service, route_name="socketio")
    log.info("counter starts at %d", config.registry.counter["value"])
    return config.make_wsgi_app()
