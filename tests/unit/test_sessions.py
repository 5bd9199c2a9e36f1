"""``server.sockets`` tells its server of every session that leaves it, whatever removed it."""

from __future__ import annotations

import time

import pytest

from socketio.sessionid import new_sessid
from socketio.sessions import EndedIds, Sessions


@pytest.fixture
def registry():
    left: list[str] = []
    sessions = Sessions(left.append)
    sessions["a"] = "A"
    sessions["b"] = "B"
    assert left == []
    return sessions, left


def test_reads_are_a_plain_dicts(registry):
    sessions, _ = registry
    assert isinstance(sessions, dict)
    assert sessions.get("a") == "A"
    assert "b" in sessions
    assert len(sessions) == 2
    assert dict(sessions) == {"a": "A", "b": "B"}


def test_del_and_pop(registry):
    sessions, left = registry
    del sessions["a"]
    assert sessions.pop("b") == "B"
    assert sessions.pop("b", None) is None
    with pytest.raises(KeyError):
        sessions.pop("b")
    assert left == ["a", "b"]


def test_popitem_and_clear(registry):
    sessions, left = registry
    assert sessions.popitem() == ("b", "B")
    sessions["c"] = "C"
    sessions.clear()
    assert not sessions
    assert left == ["b", "a", "c"]


def test_another_session_under_an_id_replaces_the_one_that_left(registry):
    sessions, left = registry
    sessions["a"] = "A"  # the same session again: nothing left
    assert left == []
    sessions["a"] = "A2"
    sessions.update({"b": "B2", "c": "C"})
    sessions |= {"c": "C2"}
    sessions.setdefault("b", "ignored")
    assert left == ["a", "b", "c"]
    assert dict(sessions) == {"a": "A2", "b": "B2", "c": "C2"}


SECRET = "s3cret"


def test_ended_ids_are_kept_within_the_cap_and_the_floor_rises():
    ended = EndedIds()
    now = time.time()
    ids = [new_sessid(SECRET, now - 5) for _ in range(3)]
    for sid in ids:
        ended.remember(sid, 10, 2, now)
    assert len(ended) == 2
    assert ids[0] not in ended
    assert ids[2] in ended
    assert ended.floor == int(now - 5) & 0xFFFFFFFF
    ended.remember("unsigned", 10, 2, now)  # no issue time: nothing to remember
    assert "unsigned" not in ended
