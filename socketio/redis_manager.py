"""Rooms and broadcast across processes and hosts, over Redis pub/sub.

:class:`RedisManager` is a :class:`~socketio.manager.PubSubManager` whose bus
is one Redis pub/sub channel. Give it to the server as an instance or a URL::

    SocketIOServer(("", 8080), app, manager="redis://localhost:6379/0")

Each process keeps its own membership in memory (who is in which namespace
and room); only emits travel through Redis. Every emit is delivered to the
sender's local members at once, then published; every other process
delivers it to its own members. A process ignores what it published itself,
so each member receives each emit exactly once (see
:class:`~socketio.manager.PubSubManager`).

The wire format
---------------

Every emit is one ``PUBLISH <channel> <message>`` (channel ``socketio`` by
default), where ``<message>`` is a UTF-8 JSON object::

    {"endpoint": "/chat",
     "host": "5f0c...",
     "packet": "5::/chat:{\\"args\\":[\\"hi\\"],\\"name\\":\\"news\\"}",
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
``host``
    an id of the publisher; a server ignores messages carrying its own id.
    Emitters (:class:`socketio.emitter.Emitter`) use an id of their own.

Unknown keys are ignored, and malformed messages are logged and dropped, so
other programs (in any language) can publish too.

Reconnection
------------

The listener runs in a greenlet started with the server. When Redis goes
away it logs one warning, sets ``bus_up`` false (emits then reach local
members only, without waiting on Redis) and tries again after 0.5 s,
doubling up to 10 s; when it is subscribed again it logs that delivery
across processes has resumed. What is published while a process is not
subscribed is lost for that process (Redis pub/sub keeps no history).

redis-py does blocking socket I/O: in a gevent server it is cooperative only
if gevent has patched the ``socket`` module (``gevent.monkey.patch_all()``
first thing in the program, or gunicorn's gevent workers), which
:class:`RedisManager` checks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .exceptions import ConfigError
from .manager import PubSubManager

__all__ = ["RedisManager", "dumps_message", "import_redis", "loads_message"]

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


def split_channel(url: str, channel: Optional[str]) -> tuple[str, str]:
    """Take a ``channel=`` query parameter out of a Redis URL.

    Returns:
        ``(url without it, channel)``: the explicit ``channel`` argument wins,
        then the query parameter, then ``'socketio'``.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    found = [value for key, value in query if key == "channel"]
    rest = [(key, value) for key, value in query if key != "channel"]
    url = urlunsplit(parts._replace(query=urlencode(rest)))
    return url, channel or (found[-1] if found else "socketio")


def describe_url(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


class RedisManager(PubSubManager):
    """Rooms and broadcast shared by every process connected to one Redis.

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS)
            or ``unix:///path/to/redis.sock``. A ``channel=`` query parameter
            sets the channel (handy where only a URL can be configured).
        channel: the pub/sub channel; every server and emitter of one
            application must use the same one. Default ``'socketio'``.
        redis_options: extra keywords for ``redis.Redis.from_url`` (they
            override the defaults chosen here: 5 s connect timeout, TCP
            keepalive, a health check every 30 s, one immediate retry).
        min_backoff: seconds before the first reconnection attempt.
        max_backoff: the longest wait between attempts (it doubles up to this).

    Raises:
        ConfigError: redis-py is not installed, or gevent has not patched the
            ``socket`` module (redis-py would then block the whole process).

    The listener starts with the server (:meth:`start`); without a server,
    call :meth:`set_deliver` and then :meth:`start` yourself.
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        channel: Optional[str] = None,
        *,
        redis_options: Optional[dict[str, Any]] = None,
        min_backoff: float = 0.5,
        max_backoff: float = 10.0,
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

        url, channel = split_channel(url, channel)
        super().__init__(channel)
        if min_backoff <= 0 or max_backoff < min_backoff:
            raise ConfigError(
                f"RedisManager: need 0 < min_backoff <= max_backoff, got {min_backoff}, {max_backoff}"
            )
        self.url = url
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        options: dict[str, Any] = {
            "socket_connect_timeout": 5,
            "socket_keepalive": True,
            "health_check_interval": 30,
            # One quick retry on a fresh connection (a pooled connection is
            # stale after Redis restarted); our listener does the backoff.
            "retry": Retry(NoBackoff(), 1),
        }
        options.update(redis_options or {})
        try:
            self.redis = redis.Redis.from_url(url, **options)
        except ValueError as exc:
            raise ConfigError(f"RedisManager: bad Redis URL {describe_url(url)!r}: {exc}") from None
        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

    def __repr__(self) -> str:
        return f"<RedisManager {describe_url(self.url)} channel={self.channel!r}>"

    def close(self) -> None:
        """Stop the listener and close the connections to Redis."""
        super().close()
        try:
            self.redis.close()
        except self._errors as exc:
            log.debug("closing the Redis connections: %s", exc)

    def _publish(self, message: dict[str, Any]) -> None:
        self.redis.publish(self.channel, dumps_message(message))

    def _listen(self) -> Iterator[dict[str, Any]]:
        import gevent

        backoff = self.min_backoff
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self._bus_is_up()
                backoff = self.min_backoff
                while True:
                    # A timeout, not a blocking read: each call runs redis-py's
                    # health check, which notices a silent network partition.
                    item = pubsub.get_message(timeout=5.0)
                    if item is None or item.get("type") != "message":
                        continue
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

    def _bus_is_up(self) -> None:
        if not self.bus_up:
            log.info(
                "Redis %s is reachable again: rooms and broadcast reach every process",
                describe_url(self.url),
            )
        else:
            log.debug("subscribed to %r on Redis %s", self.channel, describe_url(self.url))
        self.bus_up = True

    def _bus_is_down(self, exc: BaseException) -> None:
        if self.bus_up:
            log.warning(
                "Redis %s is unreachable (%s): rooms and broadcast reach this process's "
                "clients only until it is back; retrying",
                describe_url(self.url),
                exc,
            )
        else:
            log.debug("Redis %s still unreachable: %s", describe_url(self.url), exc)
        self.bus_up = False
