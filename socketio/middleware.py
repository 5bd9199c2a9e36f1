"""A WSGI middleware that serves Socket.IO sessions before the application's router.

A framework's router can send a Socket.IO request somewhere else than the
view that calls :func:`socketio.socketio_manage`: Werkzeug 2 and newer (so
Flask) send websocket requests only to rules declared ``websocket=True``, and
the original gevent-socketio's Flask example declares none. The session is
then never served. :class:`SocketIOMiddleware` takes those requests first,
so no router sees them::

    app = SocketIOMiddleware(flask_app, {"/chat": ChatNamespace})
    SocketIOServer(("127.0.0.1", 8080), app, resource="socket.io").serve_forever()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Optional

from . import socketio_manage

if TYPE_CHECKING:  # pragma: no cover
    from .namespace import BaseNamespace

__all__ = ["SocketIOMiddleware"]


class SocketIOMiddleware:
    """Serve Socket.IO sessions with ``namespaces``; pass every other request to ``app``.

    A request is a session's when the server has put the session in
    ``environ['socketio']`` (:class:`~socketio.server.SocketIOServer` does so
    only for requests under its resource), so the middleware needs no
    routing of its own and cannot disagree with the server's.

    Args:
        app: the WSGI application (a Flask, Pyramid, Django... application).
        namespaces: endpoint → namespace class, as for :func:`~socketio.socketio_manage`.
        request: the object namespaces see as ``self.request`` (optional).
        make_request: instead of ``request``, a callable that builds it from
            the session's ``environ`` (called once per session).
        error_handler, json_loads, json_dumps: as for
            :func:`~socketio.socketio_manage`.
    """

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        namespaces: Mapping[str, type[BaseNamespace]],
        request: Any = None,
        *,
        make_request: Optional[Callable[[dict[str, Any]], Any]] = None,
        error_handler: Optional[Callable[..., Any]] = None,
        json_loads: Optional[Callable[[str], Any]] = None,
        json_dumps: Optional[Callable[[Any], str]] = None,
    ) -> None:
        self.app = app
        self.namespaces = namespaces
        self.request = request
        self.make_request = make_request
        self.error_handler = error_handler
        self.json_loads = json_loads
        self.json_dumps = json_dumps

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """The WSGI call: serve the session (until it ends), or call the application."""
        if environ.get("socketio") is None:
            return self.app(environ, start_response)
        request = self.request
        if self.make_request is not None:
            request = self.make_request(environ)
        socketio_manage(
            environ,
            self.namespaces,
            request,
            error_handler=self.error_handler,
            json_loads=self.json_loads,
            json_dumps=self.json_dumps,
        )
        return []
