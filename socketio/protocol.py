"""What a Socket.IO 0.9 HTTP request asks for, and the fixed answers.

:func:`parse_request` maps a path and query onto one of a few request kinds
(values, no I/O); the handler acts on them. Origins are checked here too.
Pure: standard library only.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Optional, Union
from urllib.parse import parse_qs, urlsplit

from .config import ALL_TRANSPORTS
from .runtime import memo

__all__ = [
    "MAX_ORIGIN",
    "NOSNIFF",
    "PROTOCOL_VERSION",
    "ClientScript",
    "Exchange",
    "ForcedDisconnect",
    "Handshake",
    "Refused",
    "Request",
    "Welcome",
    "cors_headers",
    "handshake_body",
    "origin_allowed",
    "parse_query",
    "parse_request",
    "referer_origin",
    "valid_origin",
]

PROTOCOL_VERSION = "1"
_JSONP_INDEX = re.compile(r"[0-9]{1,9}\Z")


@dataclasses.dataclass(frozen=True)
class Welcome:
    """``GET /<resource>/``: answered 200 with the body ``Welcome to socket.io.`` as 0.9 did."""


@dataclasses.dataclass(frozen=True)
class Handshake:
    """``/<resource>/1/``: create a session. ``jsonp`` is the callback index, if any."""

    jsonp: int | None = None


@dataclasses.dataclass(frozen=True)
class Exchange:
    """``/<resource>/1/<transport>/<sessid>``: traffic of an existing session."""

    transport: str
    sessid: str
    jsonp: int | None = None


@dataclasses.dataclass(frozen=True)
class ForcedDisconnect:
    """A request carrying the ``disconnect`` query key: end the session."""

    transport: str
    sessid: str


@dataclasses.dataclass(frozen=True)
class ClientScript:
    """``/<resource>/socket.io.js`` (or ``.min.js``): the browser client."""

    name: str


@dataclasses.dataclass(frozen=True)
class Refused:
    """A request under the resource that cannot be served."""

    status: int
    message: str


Request = Union[Welcome, Handshake, Exchange, ForcedDisconnect, ClientScript, Refused]


def parse_query(query: str) -> dict[str, str]:
    """Parse a query string into single values (the last one wins).

    The result is :func:`urllib.parse.parse_qs`'s (blank values kept); a
    query with nothing to decode (no ``%`` or ``+``), such as a client's
    ``t=<timestamp>``, is split directly.
    """
    if "%" in query or "+" in query:
        return {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    params = {}
    for pair in query.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            params[name] = value
    return params


def _jsonp_index(value: str | None) -> int | Refused | None:
    if value is None:
        return None
    if _JSONP_INDEX.match(value) is None:
        return Refused(400, "invalid jsonp index")
    return int(value)


_TRANSPORT_NAMES = {name: name for name in ALL_TRANSPORTS}


def parse_request(path: str, query: str, resource: str) -> Request | None:
    """Classify a request path.

    Args:
        path: the URL path (``PATH_INFO``), e.g. ``/socket.io/1/xhr-polling/abc``.
        query: the raw query string.
        resource: the configured resource, without slashes.

    Returns:
        ``None`` when the path is not under ``/<resource>/`` (a plain WSGI
        request), else one of :data:`Request`.
    """
    prefix = f"/{resource}"
    if path != prefix and not path.startswith(prefix + "/"):
        return None
    rest = path[len(prefix) + 1 :]
    if rest == "":
        return Welcome()
    if rest in ("socket.io.js", "socket.io.min.js"):
        return ClientScript(rest)
    segments = rest.split("/")
    if segments[0] != PROTOCOL_VERSION:
        if segments[0].isdigit():
            return Refused(500, "Protocol version not supported.")
        return Refused(404, "Not found")
    params = parse_query(query)
    segments = segments[1:]
    while segments and segments[-1] == "":
        segments.pop()
    if not segments:
        index = _jsonp_index(params.get("jsonp"))
        if isinstance(index, Refused):
            return index
        return Handshake(jsonp=index)
    if len(segments) != 2 or not segments[1]:
        return Refused(400, "bad request")
    transport, sessid = segments
    # (a websocket's request lives as long as its connection: share the name)
    transport = _TRANSPORT_NAMES.get(transport, transport)
    if "disconnect" in params:
        return ForcedDisconnect(transport, sessid)
    index = _jsonp_index(params.get("i")) if transport == "jsonp-polling" else None
    if isinstance(index, Refused):
        return index
    if transport == "jsonp-polling" and index is None:
        index = 0
    return Exchange(transport, sessid, jsonp=index)


def handshake_body(
    sessid: str,
    heartbeat_timeout: float,
    close_timeout: float,
    transports: tuple[str, ...] | list[str],
) -> str:
    """The handshake answer: ``<sid>:<heartbeat timeout>:<close timeout>:<transports>``."""

    def secs(value: float) -> str:
        return str(int(value)) if float(value).is_integer() else str(value)

    return f"{sessid}:{secs(heartbeat_timeout)}:{secs(close_timeout)}:{','.join(transports)}"


@memo(16)
def _origin_patterns(origins: str | tuple[str, ...]) -> tuple[str, ...]:
    # (cached: every request of a server asks with the same setting)
    if isinstance(origins, str):
        return tuple(o for o in re.split(r"[\s,]+", origins) if o)
    return origins


#: longest origin looked at: a scheme, ``://``, a 253-character host name and a port
MAX_ORIGIN = 300

#: a serialized origin (RFC 6454 section 6.2) as browsers send it:
#: ``scheme://host[:port]``, ASCII, no path, no space or control character
_SERIALIZED_ORIGIN = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*://"
    r"(?:[A-Za-z0-9_~!$&'()*+,;=.-]+|\[[0-9A-Fa-f:.]+\])"
    r"(?::[0-9]{1,5})?\Z"
)


def valid_origin(origin: str | None) -> bool:
    """Tell whether ``origin`` is an ``Origin`` value that may be echoed in a header.

    That is a serialized origin (``scheme://host[:port]``, what a browser
    sends) or ``null`` (what a sandboxed or ``file:`` page sends). Anything
    else (a path, a space, a carriage return, more than :data:`MAX_ORIGIN`
    characters) was not written by a browser and is never echoed.
    """
    if not origin or len(origin) > MAX_ORIGIN:
        return False
    return origin == "null" or _SERIALIZED_ORIGIN.match(origin) is not None


def _host_port(origin: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(origin)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    if port is None:
        port = 443 if parts.scheme in ("https", "wss") else 80
    return host, str(port)


def referer_origin(referer: str | None) -> str | None:
    """The origin (``scheme://host[:port]``) of a ``Referer`` URL, or ``None`` if it has none."""
    if not referer or len(referer) > 8192:
        return None
    if len(referer) <= 512:  # (a page polls with the same Referer every time)
        return _cached_referer_origin(referer)
    return _referer_origin(referer)


def _referer_origin(referer: str) -> str | None:
    try:
        parts = urlsplit(referer)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not host or not parts.scheme:
        return None
    if ":" in host:
        host = f"[{host}]"
    origin = f"{parts.scheme.lower()}://{host}" + ("" if port is None else f":{port}")
    return origin if valid_origin(origin) else None


_cached_referer_origin = memo(128)(_referer_origin)


@memo(64)
def _matches(origin: str, patterns: tuple[str, ...]) -> bool:
    # (cached: a site's clients come from a few origins; ``origin`` is a
    # valid serialized origin, at most MAX_ORIGIN characters)
    hp = _host_port(origin)
    if hp is None:
        return False
    host, port = hp
    scheme = urlsplit(origin).scheme
    for pattern in patterns:
        if "://" in pattern:
            if _host_port(pattern) == hp and urlsplit(pattern).scheme == scheme:
                return True
            continue
        p_host, _, p_port = pattern.rpartition(":")
        if not p_host:
            p_host, p_port = pattern, "*"
        if p_host in ("*", host) and p_port in ("*", port):
            return True
    return False


def origin_allowed(
    origin: str | None,
    origins: str | tuple[str, ...] | list[str],
    referer: str | None = None,
) -> bool:
    """Tell whether a request from ``origin`` may use the server.

    Args:
        origin: the request's ``Origin`` header (for a hybi-08 websocket,
            ``Sec-WebSocket-Origin``), if any.
        origins: ``host:port`` patterns where ``*`` matches anything
            (``'*:*'`` allows every request), or full ``scheme://host[:port]``
            origins; a string of them separated by spaces or commas, or a list.
        referer: the request's ``Referer`` header, looked at when there is no
            ``origin`` (a cross-site ``<script src>``, as JSONP polling makes,
            sends only that).

    As the 0.9 reference server does, restricted ``origins`` refuse a request
    that carries neither header, and one whose origin is not a serialized
    origin (``null``, a path, a control character). ``'*:*'`` allows all.
    """
    if origins == "*:*":  # the default: no per-request work
        return True
    patterns = _origin_patterns(tuple(origins) if isinstance(origins, list) else origins)
    if "*:*" in patterns or "*" in patterns:
        return True
    if not origin:
        origin = referer_origin(referer)
        if origin is None:
            return False
    elif origin == "null" or not valid_origin(origin):
        return False
    return _matches(origin, patterns)


@memo(64)
def _cors(origin: str) -> tuple[tuple[str, str], ...]:
    if not valid_origin(origin):
        return ()
    return (
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Credentials", "true"),
    )


def cors_headers(origin: str | None) -> list[tuple[str, str]]:
    """CORS headers for an allowed request: echo ``origin`` with credentials.

    Only a :func:`valid_origin` is echoed: anything else gets no CORS
    header (as if the request had no ``Origin``), so no client text that
    is not an origin reaches a response header.
    """
    if not origin or len(origin) > MAX_ORIGIN:
        return []
    return list(_cors(origin))


@dataclasses.dataclass
class Response:
    """An HTTP answer as a value: built by transports, sent by the handler in one place.

    ``body`` is ``bytes`` or an iterable of ``bytes`` (a stream).
    """

    status: int
    headers: list[tuple[str, str]]
    body: Union[bytes, Iterable[bytes]] = b""


TEXT_PLAIN = "text/plain; charset=UTF-8"
JAVASCRIPT = "application/javascript; charset=UTF-8"
#: on every answer of ours: a browser must not take a text or script answer
#: that carries client text for another type (HTML, say) than it declares
NOSNIFF = ("X-Content-Type-Options", "nosniff")


def text_response(
    status: int, text: str, origin: Optional[str] = None, content_type: str = TEXT_PLAIN
) -> Response:
    """A complete (non-streaming) answer carrying ``text``, with CORS for ``origin``."""
    body = text.encode("utf-8")
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        NOSNIFF,
        *cors_headers(origin),
    ]
    return Response(status, headers, body)
