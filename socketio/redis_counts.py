"""Cluster-wide counts of sockets per namespace and room, kept in Redis.

Each process writes its own counts; a query sums those of the live ones.
Nothing is written on a join, a leave or an emit: a heartbeat greenlet
writes, every ``interval`` seconds, what changed since its last write.

The keys (``<channel>`` is the manager's pub/sub channel, so two
applications sharing a Redis keep apart)::

    <channel>:counts:hosts          a set: the host ids of the processes counting
    <channel>:counts:<host id>      a hash per process, expiring after 3 intervals:
                                    field '["/chat",null]' -> sockets in /chat,
                                    field '["/chat","lobby"]' -> sockets in its room
                                    lobby, field '*' (always there)

Every heartbeat renews the hash's expiry; a process that dies (or cannot
reach Redis) stops being counted when its hash expires, three intervals
later at most. A query is one Lua script, one round trip: it sums one field
over the hashes of the hosts in the set, and takes out of the set the hosts
whose hash has expired (one heartbeat in ten runs it too, so the set stays
as small as the live processes even when nobody asks). A process that
closes its manager removes its hash at once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Optional

from .exceptions import ConfigError, CountUnavailable
from .pubsub import PubSubManager

__all__ = [
    "PRUNE_EVERY",
    "SUM_SCRIPT",
    "CountingManager",
    "RedisCounts",
    "count_interval",
    "field_name",
]

log = logging.getLogger(__name__)

#: The query, in Lua: the sum of one field (``ARGV[2]``) over the hashes
#: (prefix ``ARGV[1]``) of the hosts in the set ``KEYS[1]``, which loses the
#: hosts whose hash expired; it returns ``{sum, hosts counted}``.
SUM_SCRIPT = """
local total, live = 0, 0
for _, host in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. host
  if redis.call('EXISTS', key) == 1 then
    live = live + 1
    local n = redis.call('HGET', key, ARGV[2])
    if n then total = total + tonumber(n) end
  else
    redis.call('SREM', KEYS[1], host)
  end
end
return {total, live}
"""

#: the field every hash has, so that a renewal can tell a hash that is gone
ALIVE = "*"

#: one heartbeat in this many also takes the hosts whose hash expired out of the set
PRUNE_EVERY = 10


def field_name(endpoint: str, room: Optional[str]) -> str:
    """The hash field of ``(endpoint, room)``: a JSON array, unambiguous whatever the names."""
    return json.dumps([endpoint, room], separators=(",", ":"), ensure_ascii=False)


class RedisCounts:
    """One process's counts in Redis, and the cluster-wide query.

    Args:
        redis: a ``redis.Redis`` client whose socket timeouts bound each
            round trip (the manager's: ``publish_timeout``, ``connect_timeout``).
        channel: the manager's channel, the prefix of the keys.
        host_id: this process's id (the manager's ``host_id``).
        interval: seconds between two writes of this process's counts.
        snapshot: returns this process's counts, ``{(endpoint, room): n}``
            (``room`` ``None`` for the namespace), non-zero ones only.
        errors: the exceptions that mean Redis failed or timed out.
    """

    def __init__(
        self,
        redis: Any,
        channel: str,
        host_id: str,
        interval: float,
        snapshot: Callable[[], dict[tuple[str, Optional[str]], int]],
        errors: tuple[type[BaseException], ...],
    ) -> None:
        self.redis = redis
        self.interval = interval
        self.hosts_key = f"{channel}:counts:hosts"
        self.prefix = f"{channel}:counts:"
        self.key = self.prefix + host_id
        self.host_id = host_id
        self.ttl_ms = max(int(interval * 3000), 1000)
        self._snapshot = snapshot
        self._errors = errors
        self._script = redis.register_script(SUM_SCRIPT)
        # What Redis holds of ours ((endpoint, room) -> count), or None: write it all.
        self._written: Optional[dict[tuple[str, Optional[str]], int]] = None
        self._failing = False
        self._heartbeat: Any = None
        #: heartbeats that reached Redis
        self.writes = 0

    def start(self) -> None:
        """Start the heartbeat greenlet, if it is not running."""
        import gevent

        if self._heartbeat is None or self._heartbeat.dead:
            self._heartbeat = gevent.spawn(self._run)

    def stop(self) -> None:
        """Stop the heartbeat and take this process's counts out of Redis (if it answers)."""
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.kill(block=True, timeout=1.0)
        self._written = None
        try:
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(self.key)
            pipe.srem(self.hosts_key, self.host_id)
            pipe.execute()
        except self._errors as exc:  # it expires by itself
            log.debug("removing this process's counts from Redis: %s", exc)

    def _run(self) -> None:
        import gevent

        while True:
            try:
                self.write()
            except self._errors as exc:
                self._written = None  # what Redis holds is unknown: write it all
                if not self._failing:
                    self._failing = True
                    log.warning(
                        "cluster counts: writing this process's counts to Redis failed (%s); "
                        "other processes stop counting it in %.1f s; retrying",
                        exc,
                        self.ttl_ms / 1000,
                    )
            except Exception:  # a bug must not end the heartbeat: the counts would expire
                self._written = None
                if not self._failing:
                    self._failing = True
                    log.exception("cluster counts: the heartbeat failed; retrying")
            else:
                if self._failing:
                    self._failing = False
                    log.info("cluster counts: this process's counts reach Redis again")
            gevent.sleep(self.interval)

    def write(self) -> None:
        """Write what changed since the last write (everything, the first time), in one round trip.

        Raises:
            Exception: whatever the client raises when Redis fails (the
                heartbeat catches those it was given as ``errors``).
        """
        now = self._snapshot()
        written = self._written
        pipe = self.redis.pipeline(transaction=True)
        if written is None:
            mapping = {field_name(*key): n for key, n in now.items()}
            mapping[ALIVE] = 1
            pipe.delete(self.key)
            pipe.hset(self.key, mapping=mapping)
        else:
            pipe.exists(self.key)  # (first: what follows would make it again)
            # Names are made for the changes only: most heartbeats have few.
            changed = {field_name(*key): n for key, n in now.items() if written.get(key) != n}
            gone = [field_name(*key) for key in written if key not in now]
            if changed:
                pipe.hset(self.key, mapping=changed)
            if gone:
                pipe.hdel(self.key, *gone)
        pipe.pexpire(self.key, self.ttl_ms)
        pipe.sadd(self.hosts_key, self.host_id)
        results = pipe.execute()
        self.writes += 1
        if self.writes % PRUNE_EVERY == 1:
            # The queries take dead hosts out of the set; without queries
            # (or with rare ones) the heartbeats do, so it stays bounded.
            self._script(keys=[self.hosts_key], args=[self.prefix, ALIVE])
        if written is not None and not results[0]:
            # The hash was gone (it expired, or Redis restarted empty): what
            # was just written is partial, so write everything now.
            self._written = None
            self.write()
            return
        self._written = now

    def count(self, endpoint: str, room: Optional[str] = None) -> int:
        """The sum of every live process's count of ``endpoint`` (or its ``room``).

        Raises:
            CountUnavailable: Redis failed or did not answer in time.
        """
        try:
            total, _hosts = self._script(
                keys=[self.hosts_key], args=[self.prefix, field_name(endpoint, room)]
            )
        except self._errors as exc:
            where = f"{endpoint!r}" if room is None else f"room {room!r} of {endpoint!r}"
            raise CountUnavailable(
                f"the cluster-wide count of {where} is unavailable: Redis: {exc}",
                endpoint=endpoint,
                room=room,
            ) from None
        return int(total)


def count_interval(given: Optional[float], text: Optional[str]) -> Optional[float]:
    """The ``count_interval`` setting: ``given`` if not ``None``, else the URL's ``text``.

    Returns:
        ``None`` (counts are off, the default) or a number of seconds.

    Raises:
        ConfigError: it is not a positive number (at most an hour).
    """
    value: Any = given
    if value is None and text is not None:
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(
                f"RedisManager: count_interval={text!r} in the URL is not a number"
            ) from None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
        raise ConfigError(
            f"RedisManager: count_interval must be a positive number of seconds, not {value!r}"
        )
    return float(value)


class CountingManager(PubSubManager):
    """A :class:`~socketio.pubsub.PubSubManager` that may keep cluster-wide counts.

    The base of :class:`~socketio.redis_manager.RedisManager`: it keeps a
    :class:`RedisCounts` in :attr:`counts` when asked to (``count_interval``),
    runs its heartbeat while the manager runs and answers
    :meth:`cluster_count` from it.

    Attributes:
        counts: the :class:`RedisCounts`, or ``None`` when counts are off.
    """

    counts: Optional[RedisCounts] = None

    def start(self) -> None:
        """Start the pub/sub greenlets, and the counts' heartbeat if counts are on."""
        super().start()
        if self.counts is not None:
            self.counts.start()

    def close(self, timeout: float = 1.0) -> None:
        """Close as :class:`~socketio.pubsub.PubSubManager` does, then take this process's counts out."""
        super().close(timeout)
        if self.counts is not None:
            self.counts.stop()

    def local_counts(self) -> dict[tuple[str, Optional[str]], int]:
        """This process's counts: ``{(endpoint, room): sockets}``, ``room`` ``None`` for the namespace."""
        return {key: len(members) for key, members in self._members.items() if members}

    def cluster_count(self, endpoint: str, room: Optional[str] = None) -> int:
        """How many sockets of every process are in ``endpoint`` (or in its ``room``).

        The sum of each live process's count as written by its last
        heartbeat: up to ``count_interval`` seconds old, and a process that
        died is counted until its counts expire (three intervals). One round
        trip to Redis, from the calling greenlet only: bounded by the
        client's timeouts (``publish_timeout``; ``connect_timeout`` when it
        must connect), never a hang.

        Raises:
            CountUnavailable: Redis failed or did not answer in time.
            ConfigError: counts are off (no ``count_interval``).
        """
        if self.counts is None:
            raise ConfigError(
                "cluster_count needs the Redis manager's counts: give it count_interval "
                "(RedisManager(..., count_interval=2) or ?count_interval=2 in its URL)"
            )
        return self.counts.count(endpoint, room)
