"""A websocket session's ``1::``, sent once the application serves the session.

The ``1::`` that tells a 0.9 client it is connected waits, on a websocket,
until the application's :func:`~socketio.socketio_manage` starts reading the
session: the reader its transport offers the receiver loop sends it first
(``WebsocketTransport._read_for_receiver``), and the handler sees a reader
still offered when the application returns. An application that never does, because its
router sent the request elsewhere (Werkzeug 2 and newer send websocket
requests only to rules declared ``websocket=True``), leaves the client
unconnected rather than booted: the 0.9 client then tries its next transport
(see :mod:`socketio.fallbacks`), and the server says why in one warning
(:func:`warn_unserved`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Optional

from .peerlog import PeerLog, logs_of

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = ["UNSERVED", "UnservedLog", "warn_unserved"]

#: the warning: why an application's routing would miss a Socket.IO request, and the fixes
UNSERVED = (
    "the application returned without calling socketio_manage for %s (%s): "
    "its router did not send this Socket.IO request to the view that calls it "
    "(a 0.9 client falls back from a websocket to polling after its connect timeout). "
    "Werkzeug >= 2 (Flask) routes websocket requests only to rules declared with "
    "websocket=True. Fix: wrap the application in "
    "socketio.middleware.SocketIOMiddleware(app, namespaces), which serves "
    "/socket.io/ before any router, or make the route match websocket requests"
)


class UnservedLog(PeerLog):
    """The :data:`UNSERVED` warning's outlet: once every ten minutes per server at most."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("socketio.handler"), 600.0, logging.WARNING)


def warn_unserved(server: Any, path: str, transport: Optional[str]) -> None:
    """Log :data:`UNSERVED` for a session of ``transport`` at ``path``, rate-limited per server."""
    logs_of(server, "unserved_log", UnservedLog)("unserved", UNSERVED, path, transport)
