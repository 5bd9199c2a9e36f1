"""socketio.config: assigning a setting as an attribute is validated like an item."""

from __future__ import annotations

import pytest

from socketio.config import Config
from socketio.exceptions import ConfigError

INVALID = [
    ("heartbeat_interval", -5),
    ("heartbeat_interval", 0),
    ("heartbeat_timeout", "sixty"),
    ("close_timeout", None),
    ("polling_duration", float("nan")),
    ("max_body_size", 1.5),
    ("max_queue_size", True),
    ("max_connections", 0),
    ("transports", ["websocket", "carrier-pigeon"]),
    ("resource", "/"),
    ("origins", 5),
    ("authorization", "not callable"),
    ("policy_server", "perhaps"),
    ("policy_listener", ("0.0.0.0", "port")),
]


@pytest.mark.parametrize(("key", "value"), INVALID)
def test_attribute_assignment_is_validated(key, value):
    config = Config()
    before = getattr(config, key)
    with pytest.raises(ConfigError) as info:
        setattr(config, key, value)
    assert key in str(info.value) or key == "transports"
    # A refused value leaves the setting as it was.
    assert getattr(config, key) == before


def test_heartbeat_interval_minus_five_is_refused():
    config = Config()
    with pytest.raises(ConfigError, match="heartbeat_interval"):
        config.heartbeat_interval = -5
    assert config.heartbeat_interval == 25


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("heartbeat_interval", "2.5", 2.5),
        ("max_queue_size", "30", 30),
        ("transports", "websocket, xhr-polling", ("websocket", "xhr-polling")),
        ("resource", "/rt/", "rt"),
        ("policy_server", "off", False),
        ("max_connections", "none", None),
    ],
)
def test_attribute_assignment_is_normalised(key, value, stored):
    config = Config()
    setattr(config, key, value)
    assert getattr(config, key) == stored
    assert config[key] == stored


def test_other_attributes_are_set_as_given():
    config = Config()
    config.anything_else = -5  # not a setting: no check, as before
    assert config.anything_else == -5
    assert "anything_else" not in config


def test_reads_stay_plain_attribute_lookups():
    # The hot path reads settings often: no __getattr__/__getattribute__ hook.
    assert "__getattribute__" not in vars(Config)
    assert "__getattr__" not in vars(Config)
    assert Config(heartbeat_interval=7).heartbeat_interval == 7
