"""Emit to Socket.IO clients from code that is not a server: a job, a cron script.

An :class:`Emitter` publishes on the Redis channel of the servers'
:class:`~socketio.redis_manager.RedisManager`; every server delivers the
packet to its own clients in that namespace (or room)::

    from socketio.emitter import Emitter

    emitter = Emitter("redis://localhost:6379/0")
    emitter.emit("news", {"title": "hello"}, namespace="/chat", room="lobby")
    emitter.send("plain text", namespace="/chat")
    emitter.emit("price", 101.5, namespace="/ticker", volatile=True)

It is write-only: it cannot join rooms nor receive acks. It does plain
blocking I/O and needs neither gevent nor a running server; importing it does
not import gevent. The message format is described in
:mod:`socketio.redis_manager`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Optional

from . import packet
from .defaultjson import default_json_dumps
from .exceptions import ConfigError
from .redis_manager import (
    describe_url,
    dumps_message,
    import_redis,
    parse_options,
    split_options,
)

__all__ = ["Emitter"]


class Emitter:
    """Publishes events and messages for the clients of every server sharing a Redis.

    Args:
        url: the Redis URL the servers use (``redis://host:6379/0``; a
            ``channel=`` query parameter sets the channel). The servers'
            settings may stay in it: ``connect_timeout`` and
            ``publish_timeout`` bound the emitter's waits too (as redis-py's
            ``socket_connect_timeout`` and ``socket_timeout``), the others
            are ignored.
        channel: the servers' pub/sub channel (default ``'socketio'``).
        json_dumps: serialiser for event arguments and JSON messages.
        redis_options: extra keywords for ``redis.Redis.from_url``.

    Raises:
        ConfigError: redis-py is not installed, or the URL (or a setting in it) is invalid.

    Attributes:
        host_id: the id written in the ``host`` field of every message.
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        channel: Optional[str] = None,
        *,
        json_dumps: Callable[[Any], str] = default_json_dumps,
        redis_options: Optional[dict[str, Any]] = None,
    ) -> None:
        redis = import_redis()
        self.url, found = split_options(url)
        self.channel = channel or found.get("channel") or "socketio"
        settings = parse_options(found, {})
        options: dict[str, Any] = {}
        if "connect_timeout" in found:
            options["socket_connect_timeout"] = settings["connect_timeout"]
        if "publish_timeout" in found:
            options["socket_timeout"] = settings["publish_timeout"]
        options.update(redis_options or {})
        self.json_dumps = json_dumps
        self.host_id = "emitter-" + uuid.uuid4().hex
        try:
            self.redis = redis.Redis.from_url(self.url, **options)
        except ValueError as exc:
            raise ConfigError(f"Emitter: bad Redis URL {describe_url(self.url)!r}: {exc}") from None

    def __repr__(self) -> str:
        return f"<Emitter {describe_url(self.url)} channel={self.channel!r}>"

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def emit(
        self,
        event: str,
        *args: Any,
        namespace: str = "",
        room: Optional[str] = None,
        volatile: bool = False,
    ) -> int:
        """Send ``event`` with ``args`` to every client of ``namespace`` (or of its ``room``).

        Args:
            event: the event name the clients listen to.
            args: JSON-serialisable arguments.
            namespace: the endpoint, e.g. ``'/chat'``; ``''`` (or ``'/'``) is
                the global namespace, which every connected client has.
            room: a room of that namespace (as given to ``RoomsMixin.join``),
                or ``None`` for the whole namespace.
            volatile: each server drops the packet for those of its clients
                that cannot take it now (see ``BaseNamespace.emit``).

        Returns:
            The number of servers subscribed to the channel that got it.

        Raises:
            PacketError: ``args`` cannot be serialised.
            redis.exceptions.ConnectionError: Redis is unreachable.
        """
        endpoint = _endpoint(namespace)
        pkt = {"type": "event", "name": event, "args": list(args), "endpoint": endpoint}
        return self._publish(endpoint, packet.encode(pkt, self.json_dumps), room, volatile)

    def send(
        self,
        message: Any,
        json: bool = False,
        namespace: str = "",
        room: Optional[str] = None,
        *,
        volatile: bool = False,
    ) -> int:
        """Send a ``message`` packet (a string), or a ``json`` packet with ``json=True``.

        Clients receive it as the ``message`` event. Arguments, return value
        and errors as for :meth:`emit`.
        """
        endpoint = _endpoint(namespace)
        pkt = {"type": "json" if json else "message", "data": message, "endpoint": endpoint}
        return self._publish(endpoint, packet.encode(pkt, self.json_dumps), room, volatile)

    def close(self) -> None:
        """Close the connections to Redis."""
        self.redis.close()

    def _publish(self, endpoint: str, encoded: str, room: Optional[str], volatile: bool) -> int:
        message: dict[str, Any] = {
            "host": self.host_id,
            "endpoint": endpoint,
            "room": room,
            "skip": None,
            "packet": encoded,
        }
        if volatile:
            message["volatile"] = True
        return int(self.redis.publish(self.channel, dumps_message(message)))


def _endpoint(namespace: str) -> str:
    if not isinstance(namespace, str):
        raise ConfigError(f"namespace must be a string such as '/chat', not {namespace!r}")
    return "" if namespace == "/" else namespace
