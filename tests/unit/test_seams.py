"""The session layer's seams: public, typed, and used instead of private names."""

from __future__ import annotations

import pathlib
import re

import socketio
from socketio.testing import FakeServer
from socketio.testing_server import _DrivenSocket
from socketio.virtsocket import Socket

PACKAGE = pathlib.Path(socketio.__file__).parent
PARTS = (
    "outbox",
    "dispatcher",
    "session_clock",
    "acks",
    "session_compat",
    "session_base",
    "virtsocket",
)


def test_the_test_client_overrides_nothing_of_the_session():
    overridden = {name for name in vars(_DrivenSocket) if callable(getattr(Socket, name, None))}
    assert overridden <= {"__init__"}


def test_transports_use_no_private_name_of_the_session():
    private = re.compile(r"\bsocket\._[a-z]\w*|\bsession\._[a-z]\w*")
    for name in ("transports", "transport_base", "ws_transport"):
        text = (PACKAGE / f"{name}.py").read_text()
        assert not private.findall(text), name


def test_no_module_of_the_session_layer_is_over_500_lines():
    for name in (*PARTS, "transports", "transport_base", "ws_transport", "testing", "seams"):
        lines = (PACKAGE / f"{name}.py").read_text().count("\n")
        assert lines <= 500, (name, lines)


def test_the_parts_add_no_per_session_memory():
    # every attribute in the shared slots; the parts themselves hold none
    for cls in Socket.__mro__[1:-1]:
        if cls.__name__ != "SessionBase":
            assert cls.__dict__.get("__slots__") == (), cls
    assert set(Socket.__slots__) == {"__dict__", "__weakref__"}
    socket = Socket(FakeServer(), {})
    assert vars(socket) == {}


def test_the_fake_server_has_what_a_session_needs():
    server = FakeServer()
    for name in ("sockets", "manager", "keep_farewell", "session_logs"):
        assert hasattr(server, name), name
    server.close()
