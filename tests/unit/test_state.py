"""``socketio.state``: the session states and their one table of moves."""

from __future__ import annotations

import json

from socketio.state import ENDED, LIVE, TRANSITIONS, SessionState, can_move
from socketio.virtsocket import Socket

from .fake_server import FakeServer, make_socket


def test_states_are_the_strings_0_3_apps_compare_with():
    assert SessionState.CONNECTED == "CONNECTED"
    assert Socket.STATE_CONNECTED == "CONNECTED"
    assert Socket.STATE_CONNECTING == "CONNECTING"
    assert str(SessionState.DISCONNECTING) == "DISCONNECTING"
    assert f"{SessionState.NEW}" == "NEW"
    assert json.dumps({"s": SessionState.CONNECTED}) == '{"s": "CONNECTED"}'
    assert {"CONNECTED": 1}[SessionState.CONNECTED] == 1


def test_the_table_has_every_state_and_only_the_moves_a_session_makes():
    assert set(TRANSITIONS) == set(SessionState)
    assert can_move("NEW", "CONNECTED")
    assert can_move("NEW", "DISCONNECTING")
    assert can_move("CONNECTED", "DISCONNECTING")
    assert not can_move("DISCONNECTING", "CONNECTED")
    assert not can_move("CONNECTED", "NEW")
    assert can_move("SOMETHING AN APP SET", "CONNECTED")  # unknown: anything goes
    assert LIVE == {"NEW", "CONNECTED"}
    assert ENDED == {"DISCONNECTING", "DISCONNECTED"}


def test_a_session_walks_the_table():
    socket = Socket(FakeServer(), {})
    assert socket.state == "NEW"
    assert str(socket).endswith("(NEW)")
    socket.incr_hits()
    assert socket.state is SessionState.CONNECTED
    assert socket.connected
    socket.kill()
    assert socket.state == Socket.STATE_DISCONNECTING
    assert not socket.enter(SessionState.CONNECTED)  # an ended session stays ended
    assert socket.state == "DISCONNECTING"


def test_a_new_session_killed_never_connects():
    socket = make_socket(connected=False)
    socket.kill(detach=True)
    socket.incr_hits()
    assert socket.state == "DISCONNECTING"
    assert not socket.connected
