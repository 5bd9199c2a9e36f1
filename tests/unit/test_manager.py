"""The room/broadcast managers, with ``deliver`` replaced by a list's ``append``.

No network: :class:`FakeBus` joins several :class:`PubSubManager` instances
("processes") in memory, passing each message through the JSON wire format
of :mod:`socketio.redis_manager`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.queue
import pytest

from socketio.emitter import Emitter
from socketio.exceptions import ConfigError, PacketError
from socketio.manager import MemoryManager
from socketio.pubsub import PubSubManager
from socketio.redis_manager import (
    DEFAULTS,
    RedisManager,
    describe_url,
    dumps_message,
    import_redis,
    loads_message,
    parse_options,
    split_channel,
    split_options,
)
from socketio.server import make_manager
from tests.client09.waiting import wait_for

Delivered = list[tuple[str, str]]


def memory_manager() -> tuple[MemoryManager, Delivered]:
    delivered: Delivered = []
    manager = MemoryManager()
    manager.set_deliver(lambda sessid, encoded: delivered.append((sessid, encoded)))
    return manager, delivered


def populated() -> tuple[MemoryManager, Delivered]:
    """s1, s2, s3 in /chat; s1, s2 in room r; s4 only in the global namespace."""
    manager, delivered = memory_manager()
    for sessid in ("s1", "s2", "s3", "s4"):
        manager.add_socket(sessid, "")
    for sessid in ("s1", "s2", "s3"):
        manager.add_socket(sessid, "/chat")
    manager.join("s1", "/chat", "r")
    manager.join("s2", "/chat", "r")
    return manager, delivered


def recipients(delivered: Delivered) -> list[str]:
    return sorted(sessid for sessid, _ in delivered)


# -- MemoryManager --------------------------------------------------------------


def test_namespace_emit_reaches_its_members_only():
    manager, delivered = populated()
    assert manager.emit("/chat", "5::/chat:x") == 3
    assert recipients(delivered) == ["s1", "s2", "s3"]
    assert {encoded for _, encoded in delivered} == {"5::/chat:x"}


def test_global_namespace_emit_reaches_every_socket():
    manager, delivered = populated()
    assert manager.emit("", "5:::x") == 4
    assert recipients(delivered) == ["s1", "s2", "s3", "s4"]


def test_room_emit_and_skip():
    manager, delivered = populated()
    assert manager.emit("/chat", "p", room="r", skip="s1") == 1
    assert delivered == [("s2", "p")]
    delivered.clear()
    assert manager.emit("/chat", "p", skip="s3") == 2
    assert recipients(delivered) == ["s1", "s2"]


def test_rooms_are_per_namespace():
    manager, _ = populated()
    manager.add_socket("s1", "/news")
    manager.join("s1", "/news", "r")
    assert manager.rooms_of("s1", "/chat") == {"r"}
    assert manager.emit("/news", "p", room="r") == 1
    manager.leave("s1", "/news", "r")
    assert manager.rooms_of("s1", "/news") == set()
    assert manager.rooms_of("s1", "/chat") == {"r"}
    assert manager.emit("/news", "p", room="r") == 0


def test_unknown_room_namespace_and_leave_are_harmless():
    manager, delivered = populated()
    assert manager.emit("/nope", "p") == 0
    assert manager.emit("/chat", "p", room="nope") == 0
    manager.leave("s3", "/chat", "never-joined")
    manager.remove_socket("never-added")
    manager.remove_socket("never-added", "/chat")
    assert delivered == []


def test_leaving_a_namespace_leaves_its_rooms_only():
    manager, _ = populated()
    manager.add_socket("s1", "/news")
    manager.join("s1", "/news", "n")
    manager.remove_socket("s1", "/chat")
    assert manager.rooms_of("s1", "/chat") == set()
    assert manager.members("/chat", "r") == {"s2"}
    assert manager.members("/chat") == {"s2", "s3"}
    assert manager.members("/news", "n") == {"s1"}
    assert manager.members("") == {"s1", "s2", "s3", "s4"}


def test_removing_a_socket_everywhere_leaves_no_trace():
    manager, _ = populated()
    for sessid in ("s1", "s2", "s3", "s4"):
        manager.remove_socket(sessid)
    assert manager.emit("", "p") == 0
    assert manager.emit("/chat", "p", room="r") == 0
    # No empty sets left behind: the indexes do not grow with past sockets.
    assert not manager._members
    assert not manager._sockets


def test_emit_delivers_to_members_only_not_to_every_socket():
    """The cost of an emit is the room's size, whatever the number of sockets."""
    calls: list[str] = []
    manager = MemoryManager()
    manager.set_deliver(lambda sessid, encoded: calls.append(sessid))
    for n in range(10_000):
        manager.add_socket(f"s{n}", "/chat")
    manager.join("s1", "/chat", "small")
    manager.join("s2", "/chat", "small")
    manager.emit("/chat", "p", room="small")
    assert sorted(calls) == ["s1", "s2"]


def test_a_delivery_may_remove_members_while_emitting():
    """A slow consumer is disconnected from inside deliver(): the emit goes on."""
    manager, delivered = populated()

    def deliver(sessid: str, encoded: str) -> None:
        delivered.append((sessid, encoded))
        manager.remove_socket(sessid)

    manager.set_deliver(deliver)
    assert manager.emit("/chat", "p") == 3
    assert manager.members("/chat") == set()


def test_without_deliver_nothing_is_delivered():
    manager = MemoryManager()
    manager.add_socket("s1", "")
    assert manager.emit("", "p") == 0


# -- PubSubManager over a fake bus ----------------------------------------------


class FakeBus:
    """An in-memory pub/sub channel; messages go through the JSON wire format."""

    def __init__(self) -> None:
        self.subscribers: list[PubSubManager] = []
        self.up = True
        self.published: list[str] = []

    def publish(self, message: dict[str, Any]) -> None:
        if not self.up:
            raise ConnectionError("bus down")
        data = dumps_message(message)
        self.published.append(data)
        for manager in self.subscribers:
            manager._handle_message(loads_message(data))


class BusManager(PubSubManager):
    def __init__(self, bus: FakeBus, **options: Any) -> None:
        super().__init__(**options)
        self.bus = bus
        bus.subscribers.append(self)

    def _publish(self, message: dict[str, Any]) -> None:
        self.bus.publish(message)

    def emit_now(self, *args: Any, **kwargs: Any) -> int:
        """``emit``, then wait until the publisher greenlet has handed it to the bus."""
        count = self.emit(*args, **kwargs)
        assert self.flush(1)
        return count


def process(bus: FakeBus, *members: tuple[str, str, str | None]) -> tuple[BusManager, Delivered]:
    """A "process": a manager on ``bus`` with local members ``(sessid, endpoint, room)``."""
    delivered: Delivered = []
    manager = BusManager(bus, retry_interval=0)
    manager.set_deliver(lambda sessid, encoded: delivered.append((sessid, encoded)))
    for sessid, endpoint, room in members:
        manager.add_socket(sessid, endpoint)
        if room is not None:
            manager.join(sessid, endpoint, room)
    return manager, delivered


@dataclass
class Cluster:
    bus: FakeBus
    p1: BusManager
    d1: Delivered
    p2: BusManager
    d2: Delivered


@pytest.fixture
def cluster() -> Cluster:
    """Process 1 holds a (room r) and b; process 2 holds c (room r) and d; all in /chat."""
    bus = FakeBus()
    p1, d1 = process(bus, ("a", "/chat", "r"), ("b", "/chat", None))
    p2, d2 = process(bus, ("c", "/chat", "r"), ("d", "/chat", None))
    return Cluster(bus, p1, d1, p2, d2)


def test_every_member_on_every_process_gets_each_emit_exactly_once(cluster):
    bus, p1, d1, d2 = cluster.bus, cluster.p1, cluster.d1, cluster.d2
    assert p1.emit_now("/chat", "5::/chat:all") == 2  # local deliveries
    assert recipients(d1) == ["a", "b"]
    assert recipients(d2) == ["c", "d"]
    assert len(bus.published) == 1


def test_room_and_skip_work_across_processes(cluster):
    p1, d1, p2, d2 = cluster.p1, cluster.d1, cluster.p2, cluster.d2
    p1.emit_now("/chat", "p", room="r", skip="a")
    assert d1 == []
    assert d2 == [("c", "p")]
    p2.emit_now("/chat", "q", skip="a")
    assert recipients(d1) == ["b"]
    assert recipients(d2) == ["c", "c", "d"]


def test_a_process_ignores_its_own_messages(cluster):
    bus, p1, d1 = cluster.bus, cluster.p1, cluster.d1
    p1.emit_now("/chat", "p")
    message = json.loads(bus.published[0])
    assert message["host"] == p1.host_id
    p1._handle_message(message)  # e.g. a late echo from the bus
    assert recipients(d1) == ["a", "b"]


def test_while_the_bus_is_down_local_members_are_served_and_it_is_logged_once(cluster, caplog):
    bus, p1, d1, d2 = cluster.bus, cluster.p1, cluster.d1, cluster.d2
    bus.up = False
    with caplog.at_level(logging.DEBUG, logger="socketio.manager"):
        assert p1.emit_now("/chat", "p1") == 2
        assert p1.emit_now("/chat", "p2") == 2
    assert recipients(d1) == ["a", "a", "b", "b"]
    assert d2 == []
    assert (p1.published, p1.dropped) == (0, 2)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "clients only (publishing failed: bus down)" in warnings[0].getMessage()
    bus.up = True
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="socketio.manager"):
        p1.emit_now("/chat", "p3")
        p1.emit_now("/chat", "p4")
    assert caplog.text.count("works again") == 1
    assert "2 emits reached this process's clients only" in caplog.text
    assert recipients(d2) == ["c", "c", "d", "d"]
    assert (p1.published, p1.dropped) == (2, 2)


def test_when_the_backend_knows_the_bus_is_down_emit_does_not_publish(cluster, caplog):
    bus, p1, d2 = cluster.bus, cluster.p1, cluster.d2
    p1.bus_up = False
    with caplog.at_level(logging.INFO, logger="socketio.manager"):
        assert p1.emit_now("/chat", "p") == 2
    assert bus.published == []
    assert d2 == []
    assert p1.dropped == 1
    assert caplog.text == ""  # the backend has said why
    p1.bus_up = True
    with caplog.at_level(logging.INFO, logger="socketio.manager"):
        p1.emit_now("/chat", "q")
    assert "1 emits reached" in caplog.text
    assert d2 == [("c", "q"), ("d", "q")] or sorted(d2) == [("c", "q"), ("d", "q")]


class SlowBus(FakeBus):
    """A bus whose publish takes ``delay`` seconds (a hung Redis, until its timeout)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def publish(self, message: dict[str, Any]) -> None:
        gevent.sleep(self.delay)
        super().publish(message)


def test_emit_never_waits_for_the_bus_and_the_queue_is_bounded(caplog):
    bus = SlowBus(0.2)
    p1, d1 = process(bus, ("a", "/chat", None))
    p1.max_pending = 3
    _p2, d2 = process(bus, ("c", "/chat", None))
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="socketio.manager"):
        for n in range(10):
            assert p1.emit("/chat", f"m{n}") == 1
        assert time.monotonic() - started < 0.05  # no emit waited on the bus
        assert len(d1) == 10  # local members are served at once
        assert p1.flush(2)
    # m0..m2 were queued (the publisher had not run yet); m3..m9 found the queue full.
    assert [encoded for _, encoded in d2] == ["m0", "m1", "m2"]
    assert (p1.published, p1.dropped, p1.pending) == (3, 7, 0)
    # A full queue is not an outage: one warning per 10 s, no "works again" line.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "pub/sub: 3 messages (6 characters) wait for the bus (max_pending, max_pending_bytes); "
        "emits reach this process's clients only until it catches up"
    ]
    assert "works again" not in caplog.text


def test_the_queue_is_bounded_in_characters_too():
    bus = FakeBus()
    p1, d1 = process(bus, ("a", "/chat", None))
    _p2, d2 = process(bus, ("c", "/chat", None))
    p1.max_pending_bytes = 250
    for n in range(5):
        p1.emit("/chat", f"{n}" * 100)  # the third would make 300 characters
    assert len(d1) == 5
    assert p1.pending == 2
    assert p1.flush(1)
    assert [encoded[0] for _, encoded in d2] == ["0", "1"]
    assert (p1.published, p1.dropped) == (2, 3)
    p1.emit("/chat", "x" * 250)  # room again once published
    assert p1.flush(1)
    assert p1.published == 3


def test_the_publisher_sends_what_piled_up_in_batches():
    bus = SlowBus(0.01)
    p1, _ = process(bus, ("a", "/chat", None))
    _p2, d2 = process(bus, ("c", "/chat", None))
    batches: list[int] = []
    real = p1._publish_many

    def publish_many(messages: list[dict[str, Any]]) -> None:
        batches.append(len(messages))
        real(messages)

    p1._publish_many = publish_many  # type: ignore[method-assign]
    p1.publish_batch = 4
    for n in range(10):
        p1.emit("/chat", f"m{n}")
    assert p1.flush(2)
    assert batches == [4, 4, 2]
    assert [encoded for _, encoded in d2] == [f"m{n}" for n in range(10)]


def test_after_a_failed_publish_emits_are_dropped_for_retry_interval(cluster):
    bus, p1, d2 = cluster.bus, cluster.p1, cluster.d2
    p1.retry_interval = 0.2
    bus.up = False
    p1.emit_now("/chat", "lost")
    bus.up = True
    p1.emit_now("/chat", "too soon")  # not even tried: the bus just failed
    assert d2 == []
    assert p1.dropped == 2
    gevent.sleep(0.25)  # the test: past the retry interval
    p1.emit_now("/chat", "later")
    assert sorted(d2) == [("c", "later"), ("d", "later")]


def test_messages_are_published_in_order_and_close_flushes_them():
    bus = SlowBus(0.01)
    p1, _ = process(bus, ("a", "/chat", None))
    _p2, d2 = process(bus, ("c", "/chat", None))
    for n in range(5):
        p1.emit("/chat", f"m{n}")
    assert p1.pending == 5
    p1.close()
    assert [encoded for _, encoded in d2] == [f"m{n}" for n in range(5)]
    p1.emit("/chat", "closed")  # local only now
    gevent.sleep(0.05)  # the test: nothing more is published meanwhile
    assert len(d2) == 5
    assert p1.dropped == 1


@pytest.mark.parametrize(
    "options",
    [
        {"max_pending": 0},
        {"max_pending": 1.5},
        {"max_pending": True},
        {"max_pending_bytes": 0},
        {"retry_interval": -1},
    ],
)
def test_pubsub_settings_are_validated(options):
    with pytest.raises(ConfigError):
        PubSubManager(**options)


def test_messages_from_emitters_and_other_programs(cluster):
    p1, d1, p2, d2 = cluster.p1, cluster.d1, cluster.p2, cluster.d2
    message = {"host": "someone-else", "endpoint": "/chat", "room": "r", "packet": "p"}
    p1._handle_message(message)  # no 'skip' key, an unknown 'extra' key is fine too
    p2._handle_message({**message, "extra": 1})
    assert d1 == [("a", "p")]
    assert d2 == [("c", "p")]


@pytest.mark.parametrize(
    "message",
    [
        None,
        ["not", "a", "dict"],
        {"host": "x", "packet": "p"},
        {"host": "x", "endpoint": "/chat"},
        {"host": "x", "endpoint": 1, "packet": "p"},
        {"host": "x", "endpoint": "/chat", "packet": "p", "room": ["r"]},
        {"host": "x", "endpoint": "/chat", "packet": "p", "skip": 5},
    ],
)
def test_malformed_messages_are_dropped(cluster, message, caplog):
    p1, d1 = cluster.p1, cluster.d1
    with caplog.at_level(logging.INFO, logger="socketio.manager"):
        p1._handle_message(message)
    assert d1 == []
    assert "malformed" in caplog.text


class QueueManager(PubSubManager):
    """A backend whose bus is a gevent queue, to run the real listener greenlet."""

    def __init__(self) -> None:
        super().__init__()
        self.queue: gevent.queue.Queue[Any] = gevent.queue.Queue()
        self.listens = 0

    def _publish(self, message: dict[str, Any]) -> None:
        self.queue.put(message)

    def _listen(self) -> Iterator[dict[str, Any]]:
        self.listens += 1
        while True:
            item = self.queue.get()
            if isinstance(item, Exception):
                raise item
            yield item


def test_start_runs_the_listener_greenlet_and_close_stops_it():
    manager = QueueManager()
    delivered: Delivered = []
    manager.set_deliver(lambda sessid, encoded: delivered.append((sessid, encoded)))
    manager.add_socket("s1", "/chat")
    manager.start()
    manager.start()  # idempotent
    manager.queue.put({"host": "other", "endpoint": "/chat", "packet": "p"})
    manager.emit("/chat", "own")  # delivered directly, its echo ignored
    wait_for(lambda: len(delivered) >= 2, what="the queued packet", sleep=gevent.sleep)
    assert delivered == [("s1", "own"), ("s1", "p")]
    assert manager.listens == 1
    manager.close()
    gevent.sleep(0)
    manager.queue.put({"host": "other", "endpoint": "/chat", "packet": "late"})
    gevent.sleep(0.01)  # the test: a closed manager's listener takes nothing meanwhile
    assert ("s1", "late") not in delivered


def test_a_failing_delivery_does_not_kill_the_listener(caplog):
    manager = QueueManager()
    delivered: list[str] = []

    def deliver(sessid: str, encoded: str) -> None:
        if encoded == "bad":
            raise RuntimeError("boom (expected)")
        delivered.append(encoded)

    manager.set_deliver(deliver)
    manager.add_socket("s1", "")
    manager.start()
    try:
        with caplog.at_level(logging.ERROR, logger="socketio.manager"):
            manager.queue.put({"host": "x", "endpoint": "", "packet": "bad"})
            manager.queue.put({"host": "x", "endpoint": "", "packet": "good"})
            wait_for(lambda: delivered, what="the good packet", sleep=gevent.sleep)
        assert delivered == ["good"]
        assert "delivering a pub/sub message failed" in caplog.text
        assert manager.listens == 1
    finally:
        manager.close()


def test_a_crashing_backend_listener_is_restarted(caplog, monkeypatch):
    manager = QueueManager()
    delivered: list[str] = []
    manager.set_deliver(lambda sessid, encoded: delivered.append(encoded))
    manager.add_socket("s1", "")
    real_sleep = gevent.sleep
    monkeypatch.setattr(gevent, "sleep", lambda seconds=0: real_sleep(0))
    manager.start()
    try:
        with caplog.at_level(logging.ERROR, logger="socketio.manager"):
            manager.queue.put(RuntimeError("backend bug (expected)"))
            manager.queue.put({"host": "x", "endpoint": "", "packet": "after"})
            wait_for(lambda: delivered, what="the packet after the crash", sleep=real_sleep)
        assert delivered == ["after"]
        assert manager.listens == 2
        assert "restarting" in caplog.text
    finally:
        manager.close()


# -- the Redis wire format, the URL helpers, configuration errors ----------------


def test_message_wire_format_is_compact_json():
    message = {"host": "h", "endpoint": "/chat", "room": None, "skip": "s", "packet": "5::/chat:é"}
    data = dumps_message(message)
    assert data == '{"endpoint":"/chat","host":"h","packet":"5::/chat:é","room":null,"skip":"s"}'
    assert loads_message(data.encode()) == message


@pytest.mark.parametrize("data", [b"not json", b"[1, 2]", b'"text"', b"\xff", None])
def test_loads_message_rejects_what_is_not_a_json_object(data):
    assert loads_message(data) is None


def test_split_channel_and_describe_url():
    assert split_channel("redis://h:1/0", None) == ("redis://h:1/0", "socketio")
    assert split_channel("redis://h:1/0?channel=c&db=2", None) == ("redis://h:1/0?db=2", "c")
    assert split_channel("redis://h:1/0?channel=c", "explicit") == ("redis://h:1/0", "explicit")
    assert describe_url("redis://:secret@h:1/0") == "redis://:***@h:1/0"
    assert describe_url("redis://user:secret@h:1/0") == "redis://user:***@h:1/0"
    assert describe_url("redis://h:1/0") == "redis://h:1/0"
    # a unix socket's URL keeps its empty authority (redis-py needs "unix://")
    assert split_channel("unix:///run/redis.sock?db=1&channel=c", None) == (
        "unix:///run/redis.sock?db=1",
        "c",
    )
    assert split_channel("unix:///run/redis.sock", None) == ("unix:///run/redis.sock", "socketio")


def test_redis_settings_from_keywords_url_or_defaults():
    assert parse_options({}, {}) == DEFAULTS
    assert DEFAULTS["publish_timeout"] <= 0.5
    assert DEFAULTS["max_backoff"] <= 1.0
    url, found = split_options("redis://h:1/0?publish_timeout=0.2&db=2&max_pending=5&channel=c")
    assert url == "redis://h:1/0?db=2"
    assert found == {"publish_timeout": "0.2", "max_pending": "5", "channel": "c"}
    options = parse_options(found, {"max_pending": 7, "min_backoff": None})
    assert options == {**DEFAULTS, "publish_timeout": 0.2, "max_pending": 7}


@pytest.mark.parametrize(
    ("found", "given", "match"),
    [
        ({"publish_timeout": "soon"}, {}, "publish_timeout='soon' in the URL is not a number"),
        ({"max_pending": "1.5"}, {}, "max_pending='1.5' in the URL is not a number"),
        ({}, {"max_pending": 0}, "max_pending must be a positive integer"),
        ({}, {"publish_timeout": 0}, "publish_timeout must be a positive number"),
        ({"connect_timeout": "inf"}, {}, "connect_timeout must be a positive number"),
        ({"health_interval": "nan"}, {}, "health_interval must be a positive number"),
        ({}, {"max_backoff": True}, "max_backoff must be a positive number"),
        ({}, {"min_backoff": 2.0}, "min_backoff <= max_backoff"),
    ],
)
def test_redis_settings_are_validated(found, given, match):
    with pytest.raises(ConfigError, match=re.escape(match)):
        parse_options(found, given)


def test_redis_manager_and_emitter_take_their_settings_from_the_url():
    """In a monkey-patched process, as a server runs it (redis-py connects lazily)."""
    import subprocess

    code = (
        "from gevent import monkey; monkey.patch_all()\n"
        "from socketio.redis_manager import RedisManager\n"
        "from socketio.emitter import Emitter\n"
        "from socketio.exceptions import ConfigError\n"
        "url = 'redis://127.0.0.1:1/0?channel=c&publish_timeout=0.2&max_pending=5&db=3'\n"
        "m = RedisManager(url, max_backoff=2.0)\n"
        "kw = m.redis.connection_pool.connection_kwargs\n"
        "print(m.channel, m.publish_timeout, m.max_pending, m.max_backoff, m.min_backoff,\n"
        "      kw['socket_timeout'], kw['socket_connect_timeout'], kw['db'], m.url)\n"
        "e = Emitter(url)\n"
        "kw = e.redis.connection_pool.connection_kwargs\n"
        "print(e.channel, kw['socket_timeout'], 'max_pending' in kw, e.url)\n"
        "try:\n"
        "    RedisManager('redis://127.0.0.1:1/0?max_pending=-1')\n"
        "except ConfigError as exc:\n"
        "    print(exc.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "c 0.2 5 2.0 0.1 0.2 1.0 3 redis://127.0.0.1:1/0?db=3",
        "c 0.2 False redis://127.0.0.1:1/0?db=3",
        "RedisManager: max_pending must be a positive integer, not -1",
    ], out.stderr


def test_redis_manager_refuses_to_run_without_monkey_patching():
    # The test process is not monkey patched (gevent would make pytest cooperative).
    with pytest.raises(ConfigError, match=r"gevent\.monkey\.patch_all\(\)") as info:
        RedisManager("redis://127.0.0.1:1/0")
    assert "patch_all" in info.value.message


def test_missing_redis_py_is_a_clear_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigError, match=r"gevent-socketio\[redis\]"):
        import_redis()
    with pytest.raises(ConfigError, match="redis-py"):
        Emitter("redis://127.0.0.1:1/0")


def test_make_manager():
    assert type(make_manager(None)) is MemoryManager
    assert type(make_manager("memory://")) is MemoryManager
    mine = MemoryManager()
    assert make_manager(mine) is mine
    for bad in ("bogus://x", "localhost:6379", ""):
        with pytest.raises(ConfigError, match="unsupported URL"):
            make_manager(bad)
    with pytest.raises(ConfigError, match="patch_all"):
        make_manager("redis://127.0.0.1:1/0")


# -- the emitter ------------------------------------------------------------------


class FakeRedis:
    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []
        self.closed = False

    def publish(self, channel: str, data: str) -> int:
        self.published.append((channel, data))
        return 3

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def emitter() -> tuple[Emitter, FakeRedis]:
    em = Emitter("redis://127.0.0.1:1/0?channel=app")  # redis-py connects lazily
    fake = FakeRedis()
    em.redis = fake  # type: ignore[assignment]
    return em, fake


def test_emitter_publishes_messages_servers_deliver(emitter):
    em, fake = emitter
    assert em.channel == "app"
    assert em.emit("news", {"a": 1}, "two", namespace="/chat", room="r") == 3
    em.send("hi", namespace="/chat")
    em.send({"k": [1]}, json=True, namespace="/")
    em.emit("ping")
    messages = [json.loads(data) for channel, data in fake.published]
    assert {channel for channel, _ in fake.published} == {"app"}
    assert [m["packet"] for m in messages] == [
        '5::/chat:{"args":[{"a":1},"two"],"name":"news"}',
        "3::/chat:hi",
        '4:::{"k":[1]}',
        '5:::{"name":"ping"}',
    ]
    assert [(m["endpoint"], m["room"], m["skip"]) for m in messages] == [
        ("/chat", "r", None),
        ("/chat", None, None),
        ("", None, None),
        ("", None, None),
    ]
    assert {m["host"] for m in messages} == {em.host_id}

    # A server delivers them.
    bus = FakeBus()
    server, delivered = process(bus, ("a", "/chat", "r"), ("b", "/chat", None), ("b", "", None))
    for _, data in fake.published:
        server._handle_message(loads_message(data))
    assert sorted(delivered) == [
        ("a", "3::/chat:hi"),
        ("a", '5::/chat:{"args":[{"a":1},"two"],"name":"news"}'),
        ("b", "3::/chat:hi"),
        ("b", '4:::{"k":[1]}'),
        ("b", '5:::{"name":"ping"}'),
    ]


def test_emitter_errors(emitter):
    em, fake = emitter
    with pytest.raises(PacketError):
        em.send(42)  # a message packet carries a string
    with pytest.raises(PacketError):
        em.emit("x", object())
    with pytest.raises(ConfigError):
        em.emit("x", namespace=None)  # type: ignore[arg-type]
    assert fake.published == []
    with em:
        pass
    assert fake.closed
    with pytest.raises(ConfigError, match="bad Redis URL"):
        Emitter("http://127.0.0.1:1/0")


def test_importing_the_emitter_does_not_import_gevent():
    import subprocess

    code = "import sys, socketio.emitter; print('gevent' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
