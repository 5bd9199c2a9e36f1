"""socketio.config: defaults, validation, dict-style access, from_kwargs, coerce."""

from __future__ import annotations

import dataclasses

import pytest

from socketio.config import ALL_TRANSPORTS, DEFAULT_TRANSPORTS, Config, effective_poll_hold
from socketio.exceptions import ConfigError, SocketIOError


def test_defaults():
    c = Config()
    assert c.resource == "socket.io"
    assert c.transports == (
        "websocket",
        "flashsocket",
        "htmlfile",
        "xhr-multipart",
        "xhr-polling",
        "jsonp-polling",
    )
    assert c.transports == ALL_TRANSPORTS == DEFAULT_TRANSPORTS
    assert c.heartbeat_interval == 25
    assert c.heartbeat_timeout == 60
    assert c.close_timeout == 60
    assert c.polling_duration == 20
    assert c.origins == "*:*"
    assert c.authorization is None
    assert c.max_body_size == 10 * 1024 * 1024
    assert c.max_message_size == 10 * 1024 * 1024
    assert c.max_packets_per_payload == 10_000
    assert c.max_queue_size == 10_000
    assert c.max_queue_bytes == 16 * 1024 * 1024
    assert c.max_message_frames == 1024
    assert (c.head_timeout, c.keepalive_timeout, c.body_timeout) == (10, 20, 30)
    assert c.max_connections is None
    assert c.max_pending_sessions == 10_000
    assert c.max_total_body_size == 100 * 1024 * 1024
    assert c.policy_server is True
    assert c.policy_listener == ("0.0.0.0", 10843)
    assert c.extra == {}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("heartbeat_interval", 0),
        ("heartbeat_interval", -1),
        ("heartbeat_timeout", "sixty"),
        ("close_timeout", None),
        ("polling_duration", True),
        ("polling_duration", float("nan")),
        ("max_body_size", 0),
        ("max_body_size", 1.5),
        ("max_message_size", -5),
        ("max_packets_per_payload", False),
        ("max_queue_size", "ten"),
        ("max_queue_bytes", 0),
        ("max_message_frames", -1),
        ("head_timeout", 0),
        ("keepalive_timeout", "soon"),
        ("body_timeout", float("nan")),
        ("max_connections", 0),
        ("max_connections", "many"),
        ("max_pending_sessions", None),
        ("max_total_body_size", 0),
        ("transports", ["websocket", "carrier-pigeon"]),
        ("transports", []),
        ("transports", ""),
        ("resource", ""),
        ("resource", "/"),
        ("resource", 5),
        ("origins", 5),
        ("authorization", "not callable"),
        ("policy_listener", "0.0.0.0"),
        ("policy_listener", ("0.0.0.0", "port")),
        ("policy_listener", ("a", 1, 2)),
    ],
)
def test_validation(key, value):
    with pytest.raises(ConfigError) as info:
        Config(**{key: value})
    assert info.value.message == str(info.value)
    assert key in str(info.value) or key == "transports"
    c = Config()
    with pytest.raises(ConfigError):
        c[key] = value


def test_config_error_is_value_error():
    assert issubclass(ConfigError, ValueError)
    assert issubclass(ConfigError, SocketIOError)


def test_unknown_transport_message():
    with pytest.raises(ConfigError, match="Unknown transport\\(s\\) carrier-pigeon"):
        Config(transports=("carrier-pigeon",))


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("transports", "websocket, xhr-polling", ("websocket", "xhr-polling")),
        ("transports", ["xhr-polling"], ("xhr-polling",)),
        ("resource", "/rt/", "rt"),
        ("resource", "my/app", "my/app"),
        ("heartbeat_interval", 2.5, 2.5),
        ("origins", ["a.com:80", "b.com:*"], ("a.com:80", "b.com:*")),
        ("origins", "a.com:80 b.com:80", "a.com:80 b.com:80"),
        ("policy_server", 0, False),
        ("policy_listener", ["127.0.0.1", "843"], ("127.0.0.1", 843)),
        ("authorization", len, len),
    ],
)
def test_normalised_values(key, value, stored):
    assert Config(**{key: value})[key] == stored
    c = Config()
    c[key] = value
    assert getattr(c, key) == stored


def test_dict_style_access():
    c = Config()
    assert c["heartbeat_timeout"] == 60
    c["heartbeat_timeout"] = 5
    assert c.heartbeat_timeout == 5
    assert "heartbeat_timeout" in c
    assert "custom" not in c
    with pytest.raises(KeyError):
        c["custom"]
    assert c.get("custom") is None
    assert c.get("custom", 3) == 3
    c["custom"] = {"any": "value"}
    assert "custom" in c
    assert c["custom"] == {"any": "value"}
    assert c.extra == {"custom": {"any": "value"}}
    assert c.get("close_timeout") == 60
    keys = list(c)
    assert keys == [*list(c.keys())]
    assert keys[0] == "resource"
    assert keys[-1] == "custom"
    assert "extra" not in keys
    assert set(keys) == Config.field_names() | {"custom"}
    as_dict = dict(c)
    assert as_dict["resource"] == "socket.io"
    assert as_dict["custom"] == {"any": "value"}


def test_from_kwargs_pops_settings():
    kwargs = {
        "resource": "rt",
        "heartbeat_interval": 5,
        "spawn": 100,
        "log": None,
        "transports": None,
    }
    c = Config.from_kwargs(kwargs)
    assert c.resource == "rt"
    assert c.heartbeat_interval == 5
    assert c.transports == ALL_TRANSPORTS  # None means the default
    # what is left goes on to WSGIServer
    assert kwargs == {"spawn": 100, "log": None}


def test_from_kwargs_deprecated_namespace():
    kwargs = {"namespace": "legacy", "backlog": 5}
    assert Config.from_kwargs(kwargs).resource == "legacy"
    assert kwargs == {"backlog": 5}
    # an explicit resource wins over the deprecated spelling
    kwargs = {"namespace": "legacy", "resource": "new"}
    assert Config.from_kwargs(kwargs).resource == "new"
    assert kwargs == {}


def test_from_kwargs_validates():
    with pytest.raises(ConfigError):
        Config.from_kwargs({"close_timeout": -1})


def test_coerce():
    c = Config(resource="x")
    assert Config.coerce(c) is c
    assert Config.coerce(None) == Config()
    d = Config.coerce({"heartbeat_interval": 3, "something_else": 1})
    assert d.heartbeat_interval == 3
    assert d["something_else"] == 1
    assert d.resource == "socket.io"
    with pytest.raises(ConfigError):
        Config.coerce({"heartbeat_interval": 0})


def test_instances_do_not_share_extra():
    a, b = Config(), Config()
    a["k"] = 1
    assert "k" not in b


@pytest.mark.parametrize("value", [None, "none", "", "None"])
def test_max_connections_none_means_automatic(value):
    assert Config(max_connections=100)["max_connections"] == 100
    c = Config()
    c["max_connections"] = value
    assert c.max_connections is None
    c["max_connections"] = "250"
    assert c.max_connections == 250


@pytest.mark.parametrize(
    ("polling", "close", "hold"),
    [
        (20, 60, 20),  # the defaults: the polling duration as is
        (20, 3, 2),  # cut to close_timeout minus a third of it
        (0.5, 1, 0.5),
        (1.6, 1, 2 / 3),
        (100, 60, 55),  # the margin is capped at POLL_HOLD_MAX_MARGIN
    ],
)
def test_poll_hold_stays_inside_the_clients_close_timer(polling, close, hold):
    config = Config(polling_duration=polling, close_timeout=close)
    assert config.poll_hold == pytest.approx(hold)
    assert config.poll_hold == effective_poll_hold(polling, close)


def test_poll_hold_follows_later_assignments_and_is_no_setting():
    config = Config()
    config.close_timeout = 3
    assert config.poll_hold == pytest.approx(2)
    config["polling_duration"] = "1"
    assert config.poll_hold == 1
    assert "poll_hold" not in Config.field_names()
    assert "poll_hold" not in list(config.keys())
    copy = dataclasses.replace(config, close_timeout=30)
    assert copy.poll_hold == 1
    assert copy.close_timeout == 30
