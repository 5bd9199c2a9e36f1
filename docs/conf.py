"""Sphinx configuration for gevent-socketio."""

from __future__ import annotations

import pathlib
import re
import sys
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

# The version is written once, as socketio.__version__ (importing the package
# does not import gevent).
from socketio import __version__ as _version_tuple

project = "gevent-socketio"
author = "the gevent-socketio developers"
copyright = "the gevent-socketio developers"
release = ".".join(str(part) for part in _version_tuple)
version = ".".join(str(part) for part in _version_tuple[:2])

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.intersphinx"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports = ["gunicorn", "django"]


def _inventory(url: str, *local: str) -> tuple[str, tuple[str | None, ...]]:
    """An intersphinx entry: ``url``'s inventory, read from a local copy when one exists.

    The build machines reach package registries only, not documentation
    sites, so ``./run docs`` installs Debian's documentation packages
    (``python3-doc``, ``python-gevent-doc``), whose inventories list the same
    names; links still point at ``url``. Elsewhere the inventory is fetched.
    """
    found = [path for path in local if pathlib.Path(path).is_file()]
    return (url, (*found[:1], None))


intersphinx_mapping = {
    "python": _inventory(
        "https://docs.python.org/3",
        f"/usr/share/doc/python{sys.version_info.major}.{sys.version_info.minor}/html/objects.inv",
        "/usr/share/doc/python3/html/objects.inv",
    ),
    "gevent": _inventory(
        "https://www.gevent.org",
        "/usr/share/doc/python-gevent-doc/html/objects.inv",
    ),
}
intersphinx_timeout = 10
napoleon_google_docstring = True
# Every cross-reference must resolve (./run docs turns warnings into errors).
nitpicky = True
exclude_patterns = ["_build"]
html_theme = "alabaster"
suppress_warnings = ["ref.python"]

# Names as Python reports them (the C implementations' private modules, a
# re-export's home) mapped to where their documentation lists them.
_ALIASES = {
    "gevent._gevent_cgreenlet.Greenlet": "gevent.Greenlet",
    "gevent._gevent_cqueue.Queue": "gevent.queue.Queue",
    "gevent._gevent_cevent.Event": "gevent.event.Event",
    "greenlet.GreenletExit": "gevent.GreenletExit",
    "LineTooLong": "http.client.LineTooLong",
    "HTTPException": "http.client.HTTPException",
    "handler_class": "gevent.pywsgi.WSGIServer.handler_class",
}

# What no inventory lists, each with the reason.
nitpick_ignore = [
    # a private type variable in a signature (logs_of returns the kind it is given)
    ("py:class", "socketio.peerlog._Logs"),
    # the same for memo (it returns a decorator keeping the function's type)
    ("py:class", "socketio.runtime._F"),
    # the (transport, session, application) a handler's upgraded connection serves
    ("py:class", "socketio.handler._WebsocketSession"),
    # gevent-websocket and gunicorn publish no Sphinx inventory (gunicorn's
    # documentation has no API reference); our classes extend theirs.
    ("py:class", "geventwebsocket.websocket.WebSocket"),
    ("py:class", "geventwebsocket.handler.WebSocketHandler"),
    ("py:exc", "WebSocketError"),
    ("py:meth", "send"),  # BoundedWebSocket.send is gevent-websocket's WebSocket.send
    ("py:class", "gunicorn.workers.ggevent.GeventPyWSGIWorker"),
    ("py:class", "gunicorn.workers.ggevent.PyWSGIHandler"),
    # Django's inventory lives on its site only (Debian's python-django-doc is
    # an older Django's); the Django integration's view takes and returns these.
    ("py:class", "django.http.HttpRequest"),
    ("py:class", "django.http.HttpResponse"),
    # redis-py's inventory is on its site only; the emitter names its error.
    ("py:exc", "redis.exceptions.ConnectionError"),
    # prometheus_client publishes no Sphinx inventory; the exporter extends
    # and returns its classes.
    ("py:class", "prometheus_client.registry.Collector"),
    ("py:class", "prometheus_client.registry.CollectorRegistry"),
    ("py:class", "prometheus_client.metrics_core.Metric"),
    # gevent documents neither class (its inventory lists no pywsgi.Input or
    # pywsgi.OldMessage); the HTTP modules' reader and header classes extend them.
    ("py:class", "gevent.pywsgi.Input"),
    # Python documents socket.makefile's raw reader, not its class (the
    # connection's raw reader, httpreader.SocketReader, extends it)
    ("py:class", "socket.SocketIO"),
    ("py:class", "gevent.pywsgi.OldMessage"),
    # The private Protocol that types the mixins' ``self`` (what a namespace
    # gives them); autodoc documents no private name.
    ("py:class", "socketio.mixins._Namespace"),
    # The streaming transports' private base, shown as their base class.
    ("py:class", "socketio.transports._StreamingTransport"),
]

_ATTRIBUTE_SUMMARY = re.compile(r"^[^:`]*\s[^:`]*: ")


def _keep_attribute_summaries(
    app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Stop napoleon reading a sentence before a colon as an attribute's type.

    Napoleon takes the first line of an attribute's or property's docstring as
    ``type: description``. Ours are sentences ("Bytes offered and not yet taken
    by the kernel: held for ..."), never types; a type has no space. An empty
    comment before it makes napoleon find no type and keep the sentence whole
    (a blank line would not: napoleon skips those).
    """
    if what in ("attribute", "property", "data") and lines and _ATTRIBUTE_SUMMARY.match(lines[0]):
        lines[:0] = ["..", ""]


def _resolve_alias_or_suffix(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve a Python reference Sphinx missed, through an alias or a unique suffix.

    Docstrings name a member as its own module sees it (``offer``,
    ``Socket.put_server_msg``, ``CORK_SIZE``). When exactly one documented
    object ends with that name (the reference's own module and class are
    preferred, as Sphinx does), the reference goes to it; otherwise it stays
    broken and nitpicky reports it.
    """
    from sphinx.ext.intersphinx import missing_reference

    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    alias = _ALIASES.get(target)
    if alias is not None:
        node["reftarget"] = alias
        found = missing_reference(app, env, node, contnode)
        if found is None:
            node["reftarget"] = target
        return found
    domain = env.get_domain("py")
    matches = domain.find_obj(
        env, node.get("py:module"), node.get("py:class"), target, node["reftype"], 1
    )
    if len(matches) > 1:
        # The same class documented twice (socketio.handler re-exports
        # BoundedWebSocket): take the one in the reference's own module.
        module = node.get("py:module") or ""
        matches = [m for m in matches if m[0].startswith(module + ".")]
    if len(matches) != 1:
        return None
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], matches[0][0], node, contnode
    )


def setup(app: Any) -> None:
    """Connect the two fixes above (the first before napoleon, which runs at 500)."""
    app.connect("autodoc-process-docstring", _keep_attribute_summaries, priority=400)
    app.connect("missing-reference", _resolve_alias_or_suffix, priority=400)
