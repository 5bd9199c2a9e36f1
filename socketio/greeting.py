"""A websocket session's ``1::``, sent once the application serves the session.

The ``1::`` that tells a 0.9 client it is connected waits, on a websocket,
until the application's :func:`~socketio.socketio_manage` starts reading the
session (:class:`Greeting`). An application that never does, because its
router sent the request elsewhere (Werkzeug 2 and newer send websocket
requests only to rules declared ``websocket=True``), leaves the client
unconnected rather than booted: the 0.9 client then tries its next transport
(see :mod:`socketio.fallbacks`), and the server says why in one warning
(:func:`warn_unserved`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

from .peerlog import PeerLog, logs_of

if TYPE_CHECKING:  # pragma: no cover
    from .virtsocket import Socket

__all__ = ["UNSERVED", "Greeting", "UnservedLog", "warn_unserved"]

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


class Greeting:
    """A websocket session's reader (see ``Socket.set_reader``) that first sends ``1::``.

    Args:
        session: the session.
        read: the reader its transport offered.
    """

    __slots__ = ("read", "session")

    def __init__(self, session: Socket, read: Callable[[], None]) -> None:
        self.session = session
        self.read = read

    def read_greeted(self) -> None:
        """Send ``1::``, then read.

        (Offer this bound method, not the instance: CPython calls a method
        without C recursion, so the stack the parked greenlet keeps stays
        short.)
        """
        self.session.put_client_msg("1::")
        self.read()
