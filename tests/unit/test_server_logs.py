"""Rate-limited peer logs are per server (no module-level PeerLog), counted apart."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import types
from typing import Any

import pytest

import socketio
from socketio.peerlog import PeerLog, ServerLogs, server_logs
from socketio.seams import SessionLogs


def _app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    return []


def test_no_module_of_the_package_holds_a_log_of_its_own() -> None:
    for info in pkgutil.iter_modules(socketio.__path__, "socketio."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional integration (django, gunicorn) not installed
            continue
        for name, value in vars(module).items():
            assert not isinstance(value, (PeerLog, ServerLogs, SessionLogs)), (info.name, name)


def test_server_logs_are_made_once_per_server() -> None:
    holder = types.SimpleNamespace()
    logs = server_logs(holder)
    assert server_logs(holder) is logs
    assert holder.server_logs is logs
    # Something that cannot take the attribute gets a fresh one each time.
    assert server_logs(None) is not server_logs(None)


def test_each_server_counts_its_clients_mistakes_apart(caplog: pytest.LogCaptureFixture) -> None:
    from socketio.server import SocketIOServer

    first = SocketIOServer(("127.0.0.1", 0), _app, policy_server=False, log=None)
    second = SocketIOServer(("127.0.0.1", 0), _app, policy_server=False, log=None)
    assert server_logs(first) is first.server_logs
    assert first.server_logs is not second.server_logs
    assert first.connections.peer_log is not second.connections.peer_log
    with caplog.at_level(logging.INFO, logger="socketio"):
        assert first.server_logs.http("bad-origin", "refused %s", "a")
        assert not first.server_logs.http("bad-origin", "refused %s", "b")  # rate limited
        assert second.server_logs.http("bad-origin", "refused %s", "c")  # not by the first's
    assert [r.getMessage() for r in caplog.records] == ["refused a", "refused c"]
    assert {r.name for r in caplog.records} == {"socketio.handler"}


def test_a_websocket_logs_on_its_servers_websocket_log(caplog: pytest.LogCaptureFixture) -> None:
    from socketio.wsconn import BoundedWebSocket

    server = types.SimpleNamespace()
    websocket: Any = types.SimpleNamespace(handler=types.SimpleNamespace(server=server))
    with caplog.at_level(logging.INFO, logger="socketio"):
        assert BoundedWebSocket._peer_log(websocket, "websocket: x", "closing: %s", "x")
        assert not BoundedWebSocket._peer_log(websocket, "websocket: x", "closing: %s", "y")
    assert "websocket: x" in server.server_logs.websocket._kinds
    assert [(r.name, r.getMessage()) for r in caplog.records] == [("socketio.wsconn", "closing: x")]


def test_the_policy_server_keeps_its_own_log() -> None:
    from socketio.policyserver import FlashPolicyServer

    one = FlashPolicyServer(("127.0.0.1", 0))
    two = FlashPolicyServer(("127.0.0.1", 0))
    assert isinstance(one.peer_log, PeerLog)
    assert one.peer_log is not two.peer_log
