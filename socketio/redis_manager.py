r"""Rooms and broadcast across processes and hosts, over Redis pub/sub.

:class:`RedisManager` is a :class:`~socketio.pubsub.PubSubManager` whose bus
is one Redis pub/sub channel. Give it to the server as an instance or a URL::

    SocketIOServer(("", 8080), app, manager="redis://localhost:6379/0")

Each process keeps its own membership in memory (who is in which namespace
and room); only emits travel through Redis. Every emit is delivered to the
sender's local members at once, then published; every other process
delivers it to its own members. A process ignores what it published itself,
so each member receives each emit exactly once (see
:class:`~socketio.pubsub.PubSubManager`).

The wire format
---------------

Every emit is one ``PUBLISH <channel> <message>`` (channel ``socketio`` by
default), where ``<message>`` is a UTF-8 JSON object::

    {"endpoint": "/chat",
     "host": "5f0c...",
     "packet": "5::/chat:{\"args\":[\"hi\"],\"name\":\"news\"}",
     "room": "lobby",
     "skip": null}

``endpoint``
    the namespace (``""`` is the global one), a string.
``packet``
    the Socket.IO 0.9 packet, already encoded (:func:`socketio.packet.encode`),
    exactly as each client receives it.
``room``
    a room of that namespace, or ``null`` for every socket that has the
    namespace open.
``skip``
    a session id that must not receive it (the sender of
    ``emit_to_room``/``broadcast_event_not_me``), or ``null``.
``volatile``
    ``true`` for a volatile emit: each server drops the packet for those of
    its clients that cannot take it now. Absent otherwise (any other value
    counts as absent).
``host``
    an id of the publisher; a server ignores messages carrying its own id.
    Emitters (:class:`socketio.emitter.Emitter`) use an id of their own.

Unknown keys are ignored, and malformed messages are logged and dropped, so
other programs (in any language) can publish too.

Faults: a hung, slow or restarted Redis
---------------------------------------

A handler never waits on Redis. :meth:`~socketio.pubsub.PubSubManager.emit`
delivers to the local members, puts the message in a bounded queue and
returns; one publisher greenlet per process sends the queue in order (what
has piled up goes in one pipeline, up to 100 ``PUBLISH``), each round trip
bounded by ``publish_timeout``. What cannot be published is dropped and
counted in ``manager.dropped`` (``manager.published`` counts the others): a
message whose ``PUBLISH`` failed or timed out (it is never sent twice: a
timed-out ``PUBLISH`` may still run when Redis wakes up), the emits that
found the queue full (``max_pending``, ``max_pending_bytes``), and every
emit while Redis is known to be down. Each outage logs one warning when the
first emit is dropped, and one line with the number dropped when publishing
works again; a full queue (Redis slower than the emits) logs one warning
per 10 s at most.

The listener runs in a greenlet started with the server. It waits for
Redis to confirm its ``SUBSCRIBE``, and after ``health_interval`` seconds
of silence it sends a ``PING``; an answer that takes longer than
``publish_timeout`` (a hung Redis: the kernel still accepts connections
and data, nobody answers) or a broken connection counts as Redis being
down. It then logs one warning, sets ``bus_up`` false (emits reach local
members only, without even queueing) and tries again after ``min_backoff``
seconds, doubling up to ``max_backoff``; when Redis confirms a new
subscription it logs that delivery across processes has resumed. So
delivery resumes at most ``max_backoff`` (plus a connection) after Redis
is back. What is published while a process is not subscribed is lost for
that process (Redis pub/sub keeps no history).

Settings
--------

Keywords of :class:`RedisManager`, or query parameters of its URL
(``redis://host:6379/0?channel=chat&publish_timeout=0.2``); a keyword wins
over the URL, and a bad value raises :class:`~socketio.exceptions.ConfigError`:

===================== ======== ===========================================================
``channel``           socketio the pub/sub channel
``publish_timeout``   0.5 s    longest wait for an answer to PUBLISH, PING, SUBSCRIBE
``connect_timeout``   1.0 s    longest wait to connect
``max_pending``       1000     most emits waiting to be published; more are dropped
``max_pending_bytes`` 16 MiB   most characters of packets waiting to be published
``min_backoff``       0.1 s    first wait before reconnecting (and after a failed publish)
``max_backoff``       1.0 s    longest wait between reconnection attempts
``health_interval``   1.0 s    silence after which the listener sends a PING
``count_interval``    off      seconds between writes of the cluster-wide counts
===================== ======== ===========================================================

Other query parameters go to redis-py. :class:`~socketio.emitter.Emitter`
accepts the same URL (it uses ``connect_timeout`` and ``publish_timeout``).

redis-py does blocking socket I/O: in a gevent server it is cooperative only
if gevent has patched the ``socket`` module (``gevent.monkey.patch_all()``
first thing in the program, or gunicorn's gevent workers), which
:class:`RedisManager` checks.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .exceptions import ConfigError
from .metrics import Latency
from .redis_counts import CountingManager, RedisCounts
from .redis_counts import count_interval as _count_interval

__all__ = [
    "DEFAULTS",
    "URL_OPTIONS",
    "RedisManager",
    "dumps_message",
    "import_redis",
    "loads_message",
]

log = logging.getLogger(__name__)


def import_redis() -> Any:
    """Import redis-py.

    Raises:
        ConfigError: it is not installed.
    """
    try:
        import redis
    except ImportError as exc:
        raise ConfigError(
            "the Redis manager needs redis-py: pip install 'gevent-socketio[redis]' "
            f"(or pip install redis) ({exc})"
        ) from None
    return redis


def dumps_message(message: dict[str, Any]) -> str:
    """Serialise a pub/sub message (see the module docstring) as compact JSON."""
    return json.dumps(message, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def loads_message(data: Any) -> Optional[dict[str, Any]]:
    """Parse a pub/sub message; ``None`` (after logging it) if it is not a JSON object."""
    try:
        message = json.loads(data)
    except (TypeError, ValueError):
        message = None
    if not isinstance(message, dict):
        log.info("ignoring a pub/sub message that is not a JSON object: %.200r", data)
        return None
    return message


#: The settings a Redis URL may carry as query parameters (``?publish_timeout=0.2``),
#: with their parsers and defaults; see :class:`RedisManager`.
URL_OPTIONS: dict[str, Callable[[str], Any]] = {
    "publish_timeout": float,
    "connect_timeout": float,
    "max_pending": int,
    "max_pending_bytes": int,
    "min_backoff": float,
    "max_backoff": float,
    "health_interval": float,
}

#: The defaults of the settings in :data:`URL_OPTIONS`.
DEFAULTS: dict[str, Any] = {
    "publish_timeout": 0.5,
    "connect_timeout": 1.0,
    "max_pending": 1000,
    "max_pending_bytes": 16 * 2**20,
    "min_backoff": 0.1,
    "max_backoff": 1.0,
    "health_interval": 1.0,
}


def split_options(url: str) -> tuple[str, dict[str, str]]:
    """Take ``channel=`` and the settings of :data:`URL_OPTIONS` out of a Redis URL.

    Returns:
        ``(url without them, {name: text})``; the last value of a repeated
        parameter wins. Other parameters stay in the URL, for redis-py.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {"channel", "count_interval", *URL_OPTIONS}
    found = {key: value for key, value in query if key in ours}
    rest = [(key, value) for key, value in query if key not in ours]
    # (not urlunsplit: it drops the empty authority of "unix:///path", which
    # redis-py then refuses)
    out = f"{parts.scheme}://{parts.netloc}{parts.path}"
    if rest:
        out += "?" + urlencode(rest)
    if parts.fragment:
        out += "#" + parts.fragment
    return out, found


def split_channel(url: str, channel: Optional[str]) -> tuple[str, str]:
    """Take a ``channel=`` query parameter (and the settings) out of a Redis URL.

    Returns:
        ``(url without them, channel)``: the explicit ``channel`` argument
        wins, then the query parameter, then ``'socketio'``.
    """
    url, found = split_options(url)
    return url, channel or found.get("channel") or "socketio"


def parse_options(found: dict[str, str], given: dict[str, Any]) -> dict[str, Any]:
    """The settings of :data:`URL_OPTIONS`: ``given`` (not ``None``), else the URL's, else default.

    Raises:
        ConfigError: a value is not a number of the right kind, or out of range.
    """
    options: dict[str, Any] = {}
    for name, parse in URL_OPTIONS.items():
        value = given.get(name)
        if value is None and name in found:
            try:
                value = parse(found[name])
            except ValueError:
                raise ConfigError(
                    f"RedisManager: {name}={found[name]!r} in the URL is not a number"
                ) from None
        options[name] = DEFAULTS[name] if value is None else value
    for name, value in options.items():
        if URL_OPTIONS[name] is int:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = ok and 0 < value < math.inf
        if not ok:
            kind = "a positive integer" if URL_OPTIONS[name] is int else "a positive number"
            raise ConfigError(f"RedisManager: {name} must be {kind}, not {value!r}")
    if options["max_backoff"] < options["min_backoff"]:
        raise ConfigError(
            "RedisManager: need min_backoff <= max_backoff, got "
            f"{options['min_backoff']}, {options['max_backoff']}"
        )
    return options


def describe_url(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


class RedisManager(CountingManager):
    """Rooms and broadcast shared by every process connected to one Redis.

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS)
            or ``unix:///path/to/redis.sock``. Query parameters ``channel=``
            and the settings below (``?publish_timeout=0.2&max_pending=500``)
            set them where only a URL can be configured; keyword arguments win.
        channel: the pub/sub channel; every server and emitter of one
            application must use the same one. Default ``'socketio'``.
        publish_timeout: the longest wait, in seconds, for Redis to answer a
            ``PUBLISH``, a ``PING`` or a ``SUBSCRIBE``; later counts as Redis
            being down. Default 0.5. Handlers never wait on it: publishing
            runs in a greenlet of its own.
        connect_timeout: the longest wait to connect to Redis. Default 1.0.
        max_pending: the most emits waiting to be published; more are dropped
            (and counted in :attr:`dropped`). Default 1000.
        max_pending_bytes: the most characters of packets waiting to be
            published; more are dropped likewise. Default 16 MiB.
        min_backoff: seconds before the first reconnection attempt, and
            during which emits are not published after a failed publish.
            Default 0.1.
        max_backoff: the longest wait between attempts (the wait doubles up
            to this), so delivery across processes resumes at most this long
            after Redis is back. Default 1.0.
        health_interval: after this many seconds without a word from Redis,
            the listener sends a ``PING``; no answer within
            ``publish_timeout`` and it reconnects. Default 1.0.
        count_interval: keep cluster-wide counts in Redis, written every this
            many seconds, for
            :meth:`~socketio.redis_counts.CountingManager.cluster_count` (see
            :mod:`socketio.redis_counts`). Default ``None``: off, nothing written.
        redis_options: extra keywords for ``redis.Redis.from_url`` (they
            override the options chosen here from the settings above).

    Raises:
        ConfigError: redis-py is not installed, gevent has not patched the
            ``socket`` module (redis-py would then block the whole process),
            the URL is invalid, or a setting is out of range.

    The listener starts with the server (:meth:`~socketio.pubsub.PubSubManager.start`);
    without a server, call :meth:`~socketio.manager.MemoryManager.set_deliver` and then
    :meth:`~socketio.pubsub.PubSubManager.start` yourself.
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        channel: Optional[str] = None,
        *,
        publish_timeout: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        max_pending: Optional[int] = None,
        max_pending_bytes: Optional[int] = None,
        min_backoff: Optional[float] = None,
        max_backoff: Optional[float] = None,
        health_interval: Optional[float] = None,
        count_interval: Optional[float] = None,
        redis_options: Optional[dict[str, Any]] = None,
    ) -> None:
        from gevent import monkey

        if not monkey.is_module_patched("socket"):
            raise ConfigError(
                "the Redis manager needs gevent's monkey patching, or redis-py blocks "
                "every greenlet of the process: call gevent.monkey.patch_all() before "
                "anything else (gunicorn's gevent workers do it for you)"
            )
        redis = import_redis()
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        url, found = split_options(url)
        settings = parse_options(
            found,
            {
                "publish_timeout": publish_timeout,
                "connect_timeout": connect_timeout,
                "max_pending": max_pending,
                "max_pending_bytes": max_pending_bytes,
                "min_backoff": min_backoff,
                "max_backoff": max_backoff,
                "health_interval": health_interval,
            },
        )
        interval = _count_interval(count_interval, found.get("count_interval"))
        super().__init__(
            channel or found.get("channel") or "socketio",
            max_pending=settings["max_pending"],
            max_pending_bytes=settings["max_pending_bytes"],
            retry_interval=settings["min_backoff"],
        )
        self.url = url
        self.publish_timeout: float = settings["publish_timeout"]
        self.connect_timeout: float = settings["connect_timeout"]
        self.min_backoff: float = settings["min_backoff"]
        self.max_backoff: float = settings["max_backoff"]
        self.health_interval: float = settings["health_interval"]
        options: dict[str, Any] = {
            "socket_connect_timeout": self.connect_timeout,
            "socket_timeout": self.publish_timeout,
            "socket_keepalive": True,
            # The listener checks Redis's health itself (a PING whose answer
            # it waits for); redis-py's check only sends one.
            "health_check_interval": 0,
            # No retry inside redis-py: a PUBLISH that timed out may still be
            # executed when Redis wakes up, and sending it again would deliver
            # it twice. The pool replaces a connection Redis closed before
            # using it, and our publisher and listener do the backoff.
            "retry": Retry(NoBackoff(), 0),
        }
        options.update(redis_options or {})
        try:
            self.redis = redis.Redis.from_url(url, **options)
        except ValueError as exc:
            raise ConfigError(f"RedisManager: bad Redis URL {describe_url(url)!r}: {exc}") from None
        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
        self._timeout_error = redis.exceptions.TimeoutError
        if interval is not None:
            errors = (redis.exceptions.RedisError, OSError)
            self.counts = RedisCounts(
                self.redis, self.channel, self.host_id, interval, self.local_counts, errors
            )

    def __repr__(self) -> str:
        return f"<RedisManager {describe_url(self.url)} channel={self.channel!r}>"

    def close(self, timeout: Optional[float] = None) -> None:
        """Publish what is pending (``publish_timeout`` at most), stop the greenlets, disconnect."""
        super().close(self.publish_timeout if timeout is None else timeout)
        try:
            self.redis.close()
        except self._errors as exc:
            log.debug("closing the Redis connections: %s", exc)

    def _prepare(self) -> None:
        # Connect now: a first PUBLISH would otherwise wait for the connection
        # and redis-py's handshake, and be sent after a later handler's answer.
        self.redis.ping()

    def _publish(self, message: dict[str, Any]) -> None:
        self.redis.publish(self.channel, dumps_message(message))

    #: where the round trips of publishes are counted, with the server's
    #: metrics on (set by the server; ``None``: not measured)
    publish_latency: Optional[Latency] = None

    def _publish_many(self, messages: list[dict[str, Any]]) -> None:
        latency = self.publish_latency
        if latency is None:
            self._send_batch(messages)
            return
        start = time.perf_counter()
        self._send_batch(messages)  # (a failed publish raises: only those that worked count)
        latency.observe(time.perf_counter() - start)

    def _send_batch(self, messages: list[dict[str, Any]]) -> None:
        if len(messages) == 1:
            self._publish(messages[0])
            return
        # One round trip for the batch: the publisher keeps up with many handlers.
        pipe = self.redis.pipeline(transaction=False)
        for message in messages:
            pipe.publish(self.channel, dumps_message(message))
        pipe.execute()

    def _listen(self) -> Iterator[dict[str, Any]]:
        import gevent

        backoff = self.min_backoff
        while True:
            pubsub = self.redis.pubsub()
            try:
                pubsub.subscribe(self.channel)
                # Subscribed once Redis says so: a hung Redis accepts the
                # connection (the kernel does) but never answers.
                self._wait_for(pubsub, "subscribe", self.publish_timeout)
                self._bus_is_up()
                backoff = self.min_backoff
                while True:
                    item = pubsub.get_message(timeout=self.health_interval)
                    if item is None:
                        # Silence: is Redis still there? (A hung or partitioned
                        # Redis sends no error; only a missing answer tells.)
                        pubsub.ping()
                        item = self._wait_for(pubsub, None, self.publish_timeout)
                    if item.get("type") == "message":
                        message = loads_message(item["data"])
                        if message is not None:
                            yield message
            except self._errors as exc:
                self._bus_is_down(exc)
            finally:
                try:
                    pubsub.close()
                except self._errors:
                    pass
            gevent.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def _wait_for(self, pubsub: Any, kind: Optional[str], timeout: float) -> dict[str, Any]:
        """The next item from ``pubsub`` (of type ``kind``, if given) within ``timeout`` seconds.

        Raises:
            redis.exceptions.TimeoutError: Redis said nothing of the kind in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            item = pubsub.get_message(timeout=max(left, 0.0)) if left > 0 else None
            if item is not None and (kind is None or item.get("type") == kind):
                return dict(item)
            if left <= 0:
                what = kind or "PING"
                raise self._timeout_error(f"no answer to {what.upper()} in {timeout} s")

    def _bus_is_up(self) -> None:
        if not self.bus_up:
            log.info(
                "Redis %s is reachable again: rooms and broadcast reach every process",
                describe_url(self.url),
            )
            self._outage_warned = False
        else:
            log.debug("subscribed to %r on Redis %s", self.channel, describe_url(self.url))
        self.bus_up = True

    def _bus_is_down(self, exc: BaseException) -> None:
        if self.bus_up:
            # One warning per outage: the publisher may have given it already.
            level = logging.INFO if self._outage_warned else logging.WARNING
            self._outage_warned = True
            log.log(
                level,
                "Redis %s is unreachable (%s): rooms and broadcast reach this process's "
                "clients only until it is back; retrying",
                describe_url(self.url),
                exc,
            )
        else:
            log.debug("Redis %s still unreachable: %s", describe_url(self.url), exc)
        self.bus_up = False
