"""gevent-socketio: a Socket.IO 0.9 (protocol revision 1) server for gevent and WSGI.

A drop-in replacement for gevent-socketio 0.3. The application calls
:func:`socketio_manage` from its WSGI view for every ``/socket.io/...`` request
and gives it its namespace classes; :class:`socketio.server.SocketIOServer`
serves the transports.

Importing this package does not import gevent: the pure protocol modules
(:mod:`socketio.packet`, :mod:`socketio.payload`, ...) stay usable without it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Optional

from . import distribution as _distribution
from . import runtime as _runtime

if TYPE_CHECKING:  # pragma: no cover
    from .namespace import BaseNamespace

__all__ = ["__version__", "socketio_manage"]

__version__ = (0, 4, 0, "dev0")

# python-socketio's package has the same name and pip lets it write into this
# directory: warn now, before its modules fail in confusing ways.
_distribution.check_package_directory(__path__[0])


def socketio_manage(
    environ: dict[str, Any],
    namespaces: Mapping[str, type[BaseNamespace]],
    request: Any = None,
    error_handler: Optional[Callable[..., Any]] = None,
    json_loads: Optional[Callable[[str], Any]] = None,
    json_dumps: Optional[Callable[[Any], str]] = None,
) -> None:
    """Serve one virtual socket with the given namespaces; block until it ends.

    Call it from the WSGI application for requests under ``/socket.io/``. The
    server runs the application once per virtual socket (not once per polling
    request), with ``environ['socketio']`` set to the
    :class:`~socketio.virtsocket.Socket`.

    Args:
        environ: the WSGI environ of the request; must hold ``'socketio'``.
        namespaces: endpoint → namespace class, e.g. ``{'': Global, '/chat': Chat}``.
        request: any object, made available to namespaces as ``self.request``.
        error_handler: replaces :func:`~socketio.virtsocket.default_error_handler`.
        json_loads: JSON parser for incoming packets.
        json_dumps: JSON serialiser for outgoing packets.

    Raises:
        socketio.exceptions.NotSocketIORequest: (a ``KeyError``) ``environ``
            has no ``'socketio'``: the request is not one of a Socket.IO
            session (``/socket.iox``, ``/socket.io.js`` routed here by a
            ``startswith('/socket.io')`` test), or did not come through
            :class:`~socketio.server.SocketIOServer`. The server answers it
            ``404 Not Found``, with no traceback.
    """
    socket = environ.get("socketio")
    if socket is None:
        from .exceptions import NotSocketIORequest

        raise NotSocketIORequest("socketio")
    socket._set_environ(environ)
    socket._set_namespaces(namespaces)
    if request is not None:
        socket._set_request(request)
    if error_handler is not None:
        socket._set_error_handler(error_handler)
    if json_loads is not None:
        socket._set_json_loads(json_loads)
    if json_dumps is not None:
        socket._set_json_dumps(json_dumps)
    # The receiver loop runs here, in the application's greenlet, which waits
    # for the socket's end anyway (for a websocket that is the connection's
    # greenlet, and the loop reads the connection itself).
    socket.receiver_loop()


# PyPy: a websocket's greenlet stays in here for the whole connection (see
# socketio.runtime; the server's module lists the other functions it stays in).
_runtime.keep_out_of_traces(socketio_manage)
