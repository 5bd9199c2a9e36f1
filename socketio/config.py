"""The one settings object, built once by the server and passed down.

:class:`Config` holds every tunable with its documented default and checks
values when they are set. It also reads and writes like the dict the original
library used (``config['heartbeat_interval']``), so code that builds a
``Socket(server, {})`` or pokes ``server.config[...]`` keeps working.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Optional, Union

from .exceptions import ConfigError
from .relay import ForwardAddress, parse_forward_address

__all__ = [
    "ALL_TRANSPORTS",
    "DEFAULT_TRANSPORTS",
    "HEARTBEAT_TRANSPORTS",
    "POLLING_TRANSPORTS",
    "POLL_HOLD_MAX_MARGIN",
    "WEBSOCKET_TRANSPORTS",
    "Config",
    "effective_poll_hold",
]

#: Every transport this library implements, in the order the 0.9 client tries them.
ALL_TRANSPORTS: tuple[str, ...] = (
    "websocket",
    "flashsocket",
    "htmlfile",
    "xhr-multipart",
    "xhr-polling",
    "jsonp-polling",
)
DEFAULT_TRANSPORTS = ALL_TRANSPORTS
#: Transports whose one request (an upgraded connection) carries the whole session.
WEBSOCKET_TRANSPORTS = frozenset({"websocket", "flashsocket"})
#: Transports on which the server sends heartbeats (the 0.9 client expects
#: none on the polling ones).
HEARTBEAT_TRANSPORTS = WEBSOCKET_TRANSPORTS | {"htmlfile", "xhr-multipart"}
#: Transports whose client is, between two requests, not listening.
POLLING_TRANSPORTS = frozenset({"xhr-polling", "jsonp-polling"})

Authorization = Callable[[dict[str, Any]], Any]


@dataclasses.dataclass
class Config:
    """Settings of a Socket.IO server.

    Attributes:
        resource: first path segment of Socket.IO URLs (``/socket.io/1/...``).
        transports: enabled transport names, offered in this order in the handshake.
        heartbeat_interval: seconds between server heartbeats (``2::``) on websockets.
        heartbeat_timeout: seconds of silence from a client before its socket is closed;
            also announced to the client in the handshake.
        close_timeout: seconds a polling client may stay away between two requests,
            and that a handshaken session may wait for its first transport request.
        polling_duration: seconds a long-poll GET is held before answering ``8::``;
            never more than :attr:`poll_hold`, which keeps the hold inside the
            client's own close timer.
        origins: allowed ``Origin`` values, ``'*:*'`` for any. A string of
            space/comma separated ``host:port`` patterns (``*`` matches any host
            or port, a full ``scheme://host:port`` is also accepted) or a list of them.
        authorization: ``callable(environ)`` consulted on each handshake; a false
            result answers ``403 handshake unauthorized``.
        max_body_size: largest HTTP body (bytes) read from a polling POST.
        max_message_size: largest websocket message (bytes) accepted.
        max_packets_per_payload: most packets accepted in one polling body.
        max_queue_size: most packets waiting for one client; past it the client
            is disconnected as a slow consumer.
        max_queue_bytes: most bytes of packets waiting for one client (queued,
            or accepted by a websocket and not yet taken by the kernel); past
            it the client is disconnected as a slow consumer.
        max_message_frames: most websocket frames (fragments and control
            frames) one message may span; more closes the connection with 1009.
        head_timeout: seconds a connection has to send a whole request head,
            from its first byte (or from its accept, for the first request);
            past it the connection is closed.
        keepalive_timeout: seconds a kept-alive connection may stay idle
            between two requests before it is closed.
        body_timeout: seconds a request body has, in all, to arrive; past it
            the request is answered 408 and the connection closed.
        max_connections: most connections served at once by this process;
            ``None`` (the default) takes the open-files limit minus 128 (for
            the process's other files). Past it, the connection that has
            waited longest for a request head is dropped to make room, and
            if there is none the new connection is answered 503 and closed.
        max_pending_sessions: most sessions handshaken and not yet connected
            by a transport request; past it the oldest of them is dropped.
        max_total_body_size: most bytes of request bodies this process reads
            at once (a body of at most 64 KiB is not counted: polling
            clients post small ones); past it a larger body is answered 503
            and its connection closed, unread.
        max_pending_acks: most server-side ``emit(..., callback=...)`` acks
            one session may be waiting for (1000 by default); past it the
            oldest pending ack is given up: called with
            :class:`~socketio.exceptions.AckTimeout` if it was emitted with an
            ``ack_timeout``, dropped (with a log line) if not. See
            :meth:`socketio.namespace.BaseNamespace.emit`.
        rate_limit: most packets per second one session may have handled
            (events, messages and namespace connects; a token bucket, see
            :mod:`socketio.ratelimit`); ``None`` (the default) sets no limit.
            A packet past it is dropped before any handler runs and the
            client is told with an ``error`` event ``rate_limited`` (at most
            once a second).
        rate_limit_burst: most packets one session may send at once before
            ``rate_limit`` applies (the bucket's size); ``None`` (the
            default) takes one second's worth, ``ceil(rate_limit)``.
        rate_limit_grace: seconds a session may go on sending past its
            limit before it is disconnected (booted: a 0.9 client does not
            reconnect); ``None`` (the default) never disconnects it: its
            excess is only dropped.
        policy_server: start the Flash policy server with the Socket.IO server.
        policy_listener: ``(host, port)`` of that policy server.
        client_js: path of the 0.9 browser client ``socket.io.js`` served at
            ``/<resource>/socket.io.js``; by default it is looked up in
            ``node_modules/socket.io-client/dist`` above the working directory,
            then the package's own copy is served (:mod:`socketio.clientjs`).
        session_secret: when set (bytes or str), session ids are signed with it,
            and a process that receives the websocket of a session it does not
            know adopts it if the id is genuine, at most ``close_timeout``
            seconds old, has not ended here, and ``authorization`` allows the
            websocket's request. Give the same secret to processes that share one
            listening port or one proxy (gunicorn's workers get one
            automatically); leave it unset for a single process. With
            ``forward_listener`` it also signs the owner an id names and the
            requests forwarded to that owner.
        forward_listener: where this process listens for the requests its
            siblings forward to it (:mod:`socketio.forwarding`):
            ``'unix:/path'``, ``'host:port'`` or ``(host, port)`` (port 0: any
            free port). With ``session_secret``, the ids of the sessions
            handshaken here name this address, and a polling request that
            reaches a sibling is forwarded here: polling clients then need no
            sticky routing. ``None`` (the default): nothing is forwarded.
            gunicorn workers get a unix socket each (:mod:`socketio.sgunicorn`).
        forward_timeout: seconds to connect to a session's owner, send it a
            forwarded request and read what it answers (past the hold of a
            long poll); a silent stream is given up after
            ``heartbeat_interval`` plus this.
        metrics: count the server's traffic (:mod:`socketio.metrics`): off by
            default, when ``server.metrics`` is ``None`` and nothing is counted;
            ``server.metrics_snapshot()`` then has the gauges only.
        metrics_listener: ``(host, port)`` of a separate HTTP listener serving
            the Prometheus exposition at ``/metrics``
            (:mod:`socketio.metrics_prometheus`, needs ``prometheus_client``);
            implies ``metrics``. ``None`` (the default): no listener. Nothing
            is ever served on the Socket.IO port.

    Numbers and booleans may also be given as strings (``"25"``, ``"false"``),
    as PasteDeploy files and command lines give them. Every assignment is
    validated, as an attribute (``config.heartbeat_interval = 5``) or as an
    item (``config['heartbeat_interval'] = 5``).

    Raises:
        ConfigError: a setting is given an invalid value (at construction or
            on a later assignment).
    """

    resource: str = "socket.io"
    transports: tuple[str, ...] = DEFAULT_TRANSPORTS
    heartbeat_interval: float = 25
    heartbeat_timeout: float = 60
    close_timeout: float = 60
    polling_duration: float = 20
    origins: Union[str, tuple[str, ...]] = "*:*"
    authorization: Optional[Authorization] = None
    max_body_size: int = 10 * 1024 * 1024
    max_message_size: int = 10 * 1024 * 1024
    max_packets_per_payload: int = 10_000
    max_queue_size: int = 10_000
    max_queue_bytes: int = 16 * 1024 * 1024
    max_message_frames: int = 1024
    head_timeout: float = 10
    keepalive_timeout: float = 20
    body_timeout: float = 30
    max_connections: Optional[int] = None
    max_pending_sessions: int = 10_000
    max_total_body_size: int = 100 * 1024 * 1024
    max_pending_acks: int = 1000
    rate_limit: Optional[float] = None
    rate_limit_burst: Optional[int] = None
    rate_limit_grace: Optional[float] = None
    policy_server: bool = True
    policy_listener: tuple[str, int] = ("0.0.0.0", 10843)
    client_js: Optional[str] = None
    session_secret: Optional[Union[bytes, str]] = dataclasses.field(default=None, repr=False)
    # polling without sticky routing (see socketio.forwarding)
    forward_listener: Optional[ForwardAddress] = None
    forward_timeout: float = 2
    # metrics (see socketio.metrics)
    metrics: bool = False
    metrics_listener: Optional[tuple[str, int]] = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    #: Seconds a long-poll GET is actually held: derived, not a setting (see
    #: :func:`effective_poll_hold`). Kept up to date on every assignment of
    #: ``polling_duration`` or ``close_timeout`` so a request reads one attribute.
    poll_hold: float = dataclasses.field(init=False, default=20, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The field default above is only a placeholder: __init__ assigns it
        # after the two settings it derives from, so derive it again here.
        self._derive_poll_hold()

    def __setattr__(self, name: str, value: Any) -> None:
        # Every assignment of a setting is checked: the dataclass's __init__,
        # ``config[key] = value`` and ``config.key = value`` all come here.
        # Reads stay plain attribute lookups (the hot path reads settings often).
        check = _VALIDATORS.get(name)
        object.__setattr__(self, name, check(name, value) if check else value)
        if name in _POLL_HOLD_INPUTS and "poll_hold" in self.__dict__:
            self._derive_poll_hold()

    def _derive_poll_hold(self) -> None:
        object.__setattr__(
            self, "poll_hold", effective_poll_hold(self.polling_duration, self.close_timeout)
        )

    # -- construction -------------------------------------------------------

    @classmethod
    def field_names(cls) -> frozenset[str]:
        """Names of the settings (without ``extra``)."""
        return frozenset(f.name for f in dataclasses.fields(cls) if f.init and f.name != "extra")

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Config:
        """Build a Config from the keywords in ``kwargs`` that name settings.

        The keywords used are removed from ``kwargs`` so the caller can pass the
        rest on (``SocketIOServer`` gives them to ``WSGIServer``). The deprecated
        ``namespace`` keyword means ``resource``.

        Raises:
            ConfigError: a value is invalid.
        """
        if "namespace" in kwargs:
            kwargs.setdefault("resource", kwargs.pop("namespace"))
        names = cls.field_names()
        chosen = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        chosen = {k: v for k, v in chosen.items() if v is not None}
        return cls(**chosen)

    @classmethod
    def coerce(cls, value: Config | Mapping[str, Any] | None) -> Config:
        """Return ``value`` as a Config: a Config as is, a mapping copied into a new one."""
        if isinstance(value, Config):
            return value
        config = cls()
        for key, item in (value or {}).items():
            config[key] = item
        return config

    # -- dict-like access ---------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        if key in self.field_names():
            return getattr(self, key)
        try:
            return self.extra[key]
        except KeyError:
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self.field_names():
            self.extra[key] = value
            return
        setattr(self, key, value)

    def __contains__(self, key: object) -> bool:
        return key in self.field_names() or key in self.extra

    def get(self, key: str, default: Any = None) -> Any:
        """``config[key]``, or ``default`` when the key is unknown."""
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self) -> Iterator[str]:
        """Setting names, then extra keys, as a dict would give them."""
        yield from (f.name for f in dataclasses.fields(self) if f.init and f.name != "extra")
        yield from self.extra

    def __iter__(self) -> Iterator[str]:
        return self.keys()


#: Settings :attr:`Config.poll_hold` is derived from.
_POLL_HOLD_INPUTS = frozenset({"polling_duration", "close_timeout"})
#: Longest margin (seconds) kept between the end of a held poll and the
#: client's close timer: enough for a slow network round trip.
POLL_HOLD_MAX_MARGIN = 5.0


def effective_poll_hold(polling_duration: float, close_timeout: float) -> float:
    """Seconds to hold a long-poll GET so the 0.9 client never closes itself.

    The 0.9.16 client restarts a timer of ``close_timeout`` (the handshake's
    value) on every packet it receives, and disconnects itself when it fires;
    its next GET is sent at that moment. A poll held ``polling_duration``
    seconds with ``polling_duration >= close_timeout`` therefore loses every
    idle polling client (the reference server has the same flaw). The hold is
    cut to ``close_timeout`` minus a margin for the request's round trip: a
    third of ``close_timeout``, at most :data:`POLL_HOLD_MAX_MARGIN` seconds.
    With the defaults (20 s, 60 s) the polling duration is kept as is.
    """
    margin = min(close_timeout / 3, POLL_HOLD_MAX_MARGIN)
    return min(polling_duration, close_timeout - margin)


def _positive_number(key: str, value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value) if "." in value else int(value)
        except ValueError:
            pass
    # ``not value > 0`` also refuses NaN, which every comparison calls false.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{key} must be a positive number of seconds, not {value!r}")
    return value


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{key} must be a positive integer, not {value!r}")
    return value


def _optional_positive_int(key: str, value: Any) -> Optional[int]:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    return _positive_int(key, value)


def _optional_positive_number(key: str, value: Any) -> Optional[float]:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    try:
        return _positive_number(key, value)
    except ConfigError:
        raise ConfigError(f"{key} must be a positive number or None, not {value!r}") from None


def _transports(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [t.strip() for t in value.split(",") if t.strip()]
    names = tuple(value)
    unknown = [t for t in names if t not in ALL_TRANSPORTS]
    if unknown:
        raise ConfigError(
            f"Unknown transport(s) {', '.join(unknown)}; choose from {', '.join(ALL_TRANSPORTS)}"
        )
    if not names:
        raise ConfigError("transports must name at least one transport")
    return names


def _resource(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip("/"):
        raise ConfigError(f"resource must be a non-empty path segment, not {value!r}")
    return value.strip("/")


def _origins(key: str, value: Any) -> str | tuple[str, ...]:
    if isinstance(value, str):
        return value
    try:
        return tuple(str(v) for v in value)
    except TypeError:
        raise ConfigError(f"origins must be a string or a list of strings, not {value!r}") from None


def _authorization(key: str, value: Any) -> Any:
    if value is not None and not callable(value):
        raise ConfigError(f"authorization must be callable(environ) or None, not {value!r}")
    return value


def _boolean(key: str, value: Any) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on", "enable", "enabled"):
            return True
        if text in ("", "0", "false", "no", "off", "disable", "disabled"):
            return False
        raise ConfigError(f"{key} must be a boolean, not {value!r}")
    return bool(value)


def _listener(key: str, value: Any) -> tuple[str, int]:
    try:
        host, port = value
        return (str(host), int(port))
    except (TypeError, ValueError):
        raise ConfigError(f"policy_listener must be (host, port), not {value!r}") from None


def _metrics_listener(key: str, value: Any) -> Optional[tuple[str, int]]:
    if value is None:
        return None
    try:
        host, port = value
        port = int(port)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be (host, port) or None, not {value!r}") from None
    if not isinstance(host, str) or not 0 <= port <= 65535:
        raise ConfigError(f"{key} must be (host, port) or None, not {value!r}")
    return (host, port)


def _forward_listener(key: str, value: Any) -> Optional[ForwardAddress]:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    try:
        return parse_forward_address(value)
    except ValueError as exc:
        raise ConfigError(
            f"{key} must be 'unix:/path', 'host:port', (host, port) or None: {exc}"
        ) from None


_VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "resource": _resource,
    "transports": _transports,
    "heartbeat_interval": _positive_number,
    "heartbeat_timeout": _positive_number,
    "close_timeout": _positive_number,
    "polling_duration": _positive_number,
    "origins": _origins,
    "authorization": _authorization,
    "max_body_size": _positive_int,
    "max_message_size": _positive_int,
    "max_packets_per_payload": _positive_int,
    "max_queue_size": _positive_int,
    "max_queue_bytes": _positive_int,
    "max_message_frames": _positive_int,
    "head_timeout": _positive_number,
    "keepalive_timeout": _positive_number,
    "body_timeout": _positive_number,
    "max_connections": _optional_positive_int,
    "max_pending_sessions": _positive_int,
    "max_total_body_size": _positive_int,
    "max_pending_acks": _positive_int,
    "rate_limit": _optional_positive_number,
    "rate_limit_burst": _optional_positive_int,
    "rate_limit_grace": _optional_positive_number,
    "policy_server": _boolean,
    "policy_listener": _listener,
    "metrics": _boolean,
    "metrics_listener": _metrics_listener,
    "forward_listener": _forward_listener,
    "forward_timeout": _positive_number,
}
