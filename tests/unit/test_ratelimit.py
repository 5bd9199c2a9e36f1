"""Per-session rate limits: the token bucket, and the dispatcher dropping what is past it."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest

from socketio import session_clock
from socketio.config import Config
from socketio.exceptions import ConfigError
from socketio.namespace import BaseNamespace
from socketio.ratelimit import NOTICE_INTERVAL, TokenBucket, new_bucket

from .fake_server import feed, make_socket, sent, wait_until


class Clock:
    """Stands for the session clock's ``time`` module: the tests set its time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(session_clock, "time", fake)
    return fake


class Echo(BaseNamespace):
    handled = 0

    def on_echo(self, *args: Any) -> Any:
        type(self).handled += 1
        return args

    def recv_message(self, data: Any) -> None:
        type(self).handled += 1

    def recv_json(self, data: Any) -> None:
        type(self).handled += 1


def limited(**config: Any):
    Echo.handled = 0
    socket = make_socket({"": Echo, "/chat": Echo}, config=config)
    # the session's start: the bucket is full from the clock's time on
    socket._last_activity = session_clock.time.monotonic()
    socket._bucket = new_bucket(config.get("rate_limit"), config.get("rate_limit_burst"), 0.0)
    return socket


def echo(n: int, endpoint: str = "") -> str:
    return f'5:{n}+:{endpoint}:{{"name":"echo","args":[{n}]}}'


def errors(packets: list[str]) -> list[str]:
    return [p for p in packets if '"name":"error"' in p]


# -- the bucket ------------------------------------------------------------------------------


def test_the_bucket_starts_full_and_refills_at_its_rate():
    bucket = TokenBucket(rate=2, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.denied == 1
    assert bucket.over_since == 0.0
    assert not bucket.take(0.4)  # 0.8 tokens
    assert bucket.take(0.5)  # 1.0
    assert bucket.over_for(0.5) == 0.5
    # quiet long enough to pay back what it sent past its rate: the run is over
    assert bucket.take(10.0)
    assert bucket.over_since is None
    assert bucket.tokens == 2.0  # capped at burst, minus the one taken


def test_batches_past_the_rate_stay_over_the_limit():
    # 3 packets a second against 1 a second: the first bucket is full again
    # at each batch, but the client is not within its limit
    bucket = TokenBucket(rate=1, burst=1, now=0.0)
    for second in range(10):
        assert [bucket.take(float(second)) for _ in range(3)] == [True, False, False]
    assert bucket.over_for(9.0) == 9.0
    assert bucket.denied == 20


def test_tokens_never_exceed_the_burst_while_in_debt():
    bucket = TokenBucket(rate=1, burst=3, now=0.0)
    for _ in range(20):
        bucket.take(0.0)  # 3 taken, 17 dropped: deep in debt
    assert bucket.demand < 0
    bucket.take(3.5)  # 3.5 earned: the tokens are capped, the debt (4) is not paid yet
    assert bucket.tokens == 2.0
    assert bucket.over_since == 0.0
    assert [bucket.take(3.5) for _ in range(3)] == [True, True, False]


def test_a_single_burst_is_forgiven_soon():
    bucket = TokenBucket(rate=1, burst=1, now=0.0)
    for _ in range(100):
        bucket.take(0.0)
    assert bucket.over_since == 0.0
    assert bucket.take(2.0)  # the debt (burst + one second's worth) is paid
    assert bucket.over_since is None


def test_a_time_going_back_gives_nothing():
    bucket = TokenBucket(rate=1, burst=1, now=5.0)
    assert bucket.take(5.0)
    assert not bucket.take(3.0)
    assert bucket.stamp == 5.0


def test_notices_are_due_once_per_interval():
    bucket = TokenBucket(rate=1, burst=1, now=0.0)
    assert bucket.notice_due(0.0)
    assert not bucket.notice_due(NOTICE_INTERVAL / 2)
    assert bucket.notice_due(NOTICE_INTERVAL)


def test_no_rate_no_bucket_and_the_default_burst_is_a_second_of_it():
    assert new_bucket(None, 5, 0.0) is None
    assert new_bucket(2.5, None, 0.0).burst == 3  # type: ignore[union-attr]
    assert new_bucket(0.2, None, 0.0).burst == 1  # type: ignore[union-attr]
    assert new_bucket(10, 4, 0.0).burst == 4  # type: ignore[union-attr]


# -- the settings ----------------------------------------------------------------------------


def test_the_settings_default_to_no_limit():
    config = Config()
    assert (config.rate_limit, config.rate_limit_burst, config.rate_limit_grace) == (
        None,
        None,
        None,
    )
    assert make_socket()._bucket is None
    assert make_socket().rate_limited == 0


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("rate_limit", "2.5", 2.5),
        ("rate_limit", "none", None),
        ("rate_limit", 100, 100),
        ("rate_limit_burst", "20", 20),
        ("rate_limit_grace", "", None),
        ("rate_limit_grace", 3, 3),
    ],
)
def test_the_settings_are_normalised(key, value, stored):
    config = Config()
    setattr(config, key, value)
    assert getattr(config, key) == stored


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("rate_limit", 0),
        ("rate_limit", -1),
        ("rate_limit", math.nan),
        ("rate_limit", "fast"),
        ("rate_limit_burst", 0),
        ("rate_limit_burst", 1.5),
        ("rate_limit_grace", True),
    ],
)
def test_invalid_settings_are_refused_naming_the_setting(key, value):
    with pytest.raises(ConfigError, match=key):
        Config(**{key: value})


def test_a_socket_takes_its_limit_from_the_config():
    socket = make_socket(config={"rate_limit": 4, "rate_limit_burst": 7})
    assert socket._bucket is not None
    assert (socket._bucket.rate, socket._bucket.burst) == (4, 7)


# -- the dispatcher --------------------------------------------------------------------------


def test_past_the_burst_events_are_dropped_before_any_handler(clock, caplog):
    socket = limited(rate_limit=1, rate_limit_burst=3)
    with caplog.at_level(logging.INFO):
        feed(socket, *(echo(n) for n in range(1, 7)))
    out = sent(socket)
    assert [p for p in out if p.startswith("6:")] == [
        "6:::1+[1]",
        "6:::2+[2]",
        "6:::3+[3]",
    ]
    assert Echo.handled == 3
    assert socket.rate_limited == 3
    # one error for the three dropped, naming the limit
    (error,) = errors(out)
    assert '["rate_limited","Too many packets: at most 1 per second (3 at once); 1 dropped"]' in (
        error
    )
    lines = [r for r in caplog.records if "past its rate limit" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.WARNING
    assert socket.connected


def test_one_error_per_interval_and_one_log_line_per_session(clock, caplog):
    socket = limited(rate_limit=1, rate_limit_burst=1)
    with caplog.at_level(logging.INFO):
        for _ in range(4):
            feed(socket, *(echo(n) for n in range(1, 11)))
            clock.now += 0.5
    out = sent(socket)
    # 2 s of flooding: the first drop told at once, then once a second
    assert len(errors(out)) == 2
    assert "1 dropped" in errors(out)[0]
    assert "19 dropped" in errors(out)[1]
    lines = [r for r in caplog.records if "past its rate limit" in r.getMessage()]
    assert len(lines) == 1


def test_many_flooding_sessions_share_one_log_line_per_second(clock, caplog):
    # An attacker opening many sessions must not get one line each.
    first = limited(rate_limit=1, rate_limit_burst=1)
    others = [
        make_socket({"": Echo}, server=first.server, config={"rate_limit": 1}) for _ in range(20)
    ]
    with caplog.at_level(logging.INFO):
        for socket in [first, *others]:
            socket._last_activity = session_clock.time.monotonic()
            socket._bucket = new_bucket(1, 1, 0.0)
            feed(socket, *(echo(n) for n in range(1, 4)))
    assert all(socket.rate_limited == 2 for socket in [first, *others])
    lines = [r for r in caplog.records if "past its rate limit" in r.getMessage()]
    assert len(lines) == 1


def test_the_error_goes_to_the_namespace_of_the_dropped_packet(clock):
    socket = limited(rate_limit=1, rate_limit_burst=2)
    feed(socket, "1::/chat", echo(1, "/chat"), echo(2, "/chat"))
    out = sent(socket)
    assert out[:2] == ["1::/chat", "6::/chat:1+[1]"]
    (error,) = errors(out)
    assert error.startswith("5::/chat:")


def test_an_unknown_endpoint_in_a_dropped_packet_is_not_echoed(clock):
    socket = limited(rate_limit=1, rate_limit_burst=1)
    feed(socket, echo(1), echo(2, "/no\nsuch"))
    (error,) = errors(sent(socket))
    assert error.startswith("5:::")


def test_heartbeats_acks_and_disconnects_never_count(clock):
    socket = limited(rate_limit=1, rate_limit_burst=1)
    feed(socket, "1::/chat", *["2::"] * 20, *["6:::99"] * 20, "0::/chat")
    assert socket.rate_limited == 0
    assert "/chat" not in socket.active_ns  # the disconnect went through
    assert sent(socket) == ["1::/chat"]


def test_connects_messages_and_json_count(clock):
    socket = limited(rate_limit=1, rate_limit_burst=3)
    feed(socket, "1::/chat", "3:::hello", '4:::{"a":1}', "3:::dropped", "1::/chat")
    assert Echo.handled == 2
    assert socket.rate_limited == 2


def test_tokens_come_back_with_the_time_of_arrival(clock):
    socket = limited(rate_limit=10, rate_limit_burst=1)
    for n in range(1, 6):
        feed(socket, echo(n))
        clock.now += 0.1
    assert socket.rate_limited == 0
    assert Echo.handled == 5


def test_without_grace_a_flooder_is_never_disconnected(clock):
    socket = limited(rate_limit=1, rate_limit_burst=1)
    for _ in range(30):
        feed(socket, echo(1), echo(2), echo(3))
        clock.now += 1
    assert socket.connected
    assert socket.rate_limited == 60


def test_past_its_grace_a_flooder_is_booted(clock, caplog):
    socket = limited(rate_limit=1, rate_limit_burst=1, rate_limit_grace=3)
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            feed(socket, echo(1), echo(2), echo(3))
            clock.now += 1
        wait_until(lambda: not socket.connected, "the flooder disconnected")
    out = sent(socket)
    assert "disconnected" in errors(out)[-1]
    assert out[-1] == "0::"  # booted: a 0.9 client does not reconnect
    lines = [r.getMessage() for r in caplog.records if "rate limit" in r.getMessage()]
    assert len(lines) == 2  # dropping, then disconnecting


def test_a_client_back_within_its_limit_starts_its_grace_again(clock):
    socket = limited(rate_limit=1, rate_limit_burst=2, rate_limit_grace=3)
    for _ in range(10):
        feed(socket, echo(1), echo(2), echo(3))  # a burst over the limit...
        clock.now += 4  # ...then quiet: 3 packets in 4 s, within 1 a second
    assert socket.connected
    assert socket.rate_limited == 10
