r"""Django integration: namespaces declared in each app's ``sockets.py``.

In an app's ``sockets.py``::

    from socketio.namespace import BaseNamespace
    from socketio.sdjango import namespace

    @namespace('/chat')
    class ChatNamespace(BaseNamespace):
        ...

In the project's ``urls.py``::

    from django.urls import include, re_path
    from socketio import sdjango

    sdjango.autodiscover()
    urlpatterns = [re_path(r"^socket\.io", include(sdjango.urls))]

Run the project's WSGI application under :class:`~socketio.server.SocketIOServer`.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from . import socketio_manage
from .exceptions import NotSocketIORequest

__all__ = ["SOCKETIO_NS", "Registry", "autodiscover", "namespace", "registry", "socketio", "urls"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_View = TypeVar("_View", bound=Callable[..., Any])

# Django ships no type information (without django-stubs its names are Any to
# mypy); csrf_exempt returns the view it is given, only marked, so it keeps the
# view's signature. Run once at import, not per request.
_csrf_exempt = cast(Callable[[_View], _View], csrf_exempt)


class Registry:
    """Endpoint → namespace class, filled by :class:`namespace` and :meth:`autodiscover`."""

    def __init__(self) -> None:
        self.namespaces: dict[str, type] = {}
        self._loading = False

    def register(self, name: str, handler: type) -> None:
        """Serve ``handler`` at endpoint ``name`` (replacing any earlier one)."""
        self.namespaces[name] = handler

    def autodiscover(self) -> None:
        """Import ``<app>.sockets`` for every installed app that has one.

        A ``sockets`` module that fails to import raises, as Django's admin
        autodiscovery does; an app without one is skipped.
        """
        if self._loading:
            return
        self._loading = True
        try:
            from django.apps import apps

            for config in apps.get_app_configs():
                name = f"{config.name}.sockets"
                if importlib.util.find_spec(name) is not None:
                    importlib.import_module(name)
        finally:
            self._loading = False


registry = Registry()
#: The registered namespaces, as the original module exported them.
SOCKETIO_NS = registry.namespaces


def autodiscover() -> None:
    """Import the ``sockets.py`` module of every installed app (see :meth:`Registry.autodiscover`)."""
    registry.autodiscover()


class namespace:
    """Class decorator: ``@namespace('/chat')`` registers the class for that endpoint."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __call__(self, handler: T) -> T:
        """Register ``handler`` (a namespace class) for this endpoint and return it unchanged."""
        registry.register(self.name, handler)  # type: ignore[arg-type]
        return handler


@_csrf_exempt
def socketio(request: HttpRequest) -> HttpResponse:
    r"""The view serving every ``/socket.io/...`` request with the registered namespaces.

    A request the server did not give a session (``/socket.iox``, which the
    usual ``^socket\.io`` route also takes) is answered 404.
    """
    try:
        socketio_manage(request.environ, SOCKETIO_NS, request)
    except NotSocketIORequest:
        return HttpResponseNotFound("not found")
    except Exception:
        log.exception("error while serving a Socket.IO connection")
    return HttpResponse("")


urls: list[Any] = [re_path(r"", socketio)]
