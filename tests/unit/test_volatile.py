"""Volatile packets: sent when the client can take them now, dropped (and counted) otherwise."""

from __future__ import annotations

import json
from typing import Any, Optional

import gevent
import pytest

from socketio import packet
from socketio.emitter import Emitter
from socketio.exceptions import ConfigError
from socketio.manager import BaseManager, MemoryManager
from socketio.mixins import BroadcastMixin, RoomsMixin
from socketio.namespace import BaseNamespace
from socketio.pubsub import PubSubManager
from socketio.seams import deliver_to_session, deliver_volatile_to_session
from socketio.testing import FakeServer, SocketIOTestClient
from tests.unit.fake_server import make_socket, sent


class CountingServer:
    """A bare server with the per-server counter (as SocketIOServer has)."""

    def __init__(self) -> None:
        self.sockets: dict[str, Any] = {}
        self.volatile_dropped = 0


class FakeOutput:
    """A websocket's output: ``backlog`` frames the kernel refused."""

    def __init__(self, backlog: int = 0) -> None:
        self.backlog = backlog
        self.backlog_bytes = 0
        self.written: list[Optional[str]] = []

    def write(self, msg: Optional[str]) -> None:
        self.written.append(msg)


def held_poll(socket: Any) -> gevent.Greenlet:
    """A GET waiting for packets, as the polling transports wait (started and waiting)."""
    poll = gevent.spawn(socket.get_multiple_client_msgs, timeout=5)
    gevent.sleep(0)
    return poll


# -- the session ---------------------------------------------------------------


def test_a_polling_client_between_polls_drops_it_and_counts_it():
    server = CountingServer()
    socket = make_socket(server=server)
    assert socket.put_volatile_msg("5:::x") is False
    assert sent(socket) == []
    assert socket.volatile_dropped == 1
    assert server.volatile_dropped == 1


def test_a_held_poll_takes_it():
    socket = make_socket()
    poll = held_poll(socket)
    assert socket.put_volatile_msg("5:::x") is True
    assert poll.get(timeout=1) == ["5:::x"]
    assert socket.volatile_dropped == 0


def test_a_held_poll_takes_one_and_the_next_waits_for_the_next_poll():
    socket = make_socket()
    poll = held_poll(socket)
    assert socket.put_volatile_msg("5:::one") is True
    assert socket.put_volatile_msg("5:::two") is False  # one is queued, not yet taken
    assert poll.get(timeout=1) == ["5:::one"]
    assert socket.put_volatile_msg("5:::three") is False  # no poll held now
    assert socket.volatile_dropped == 2


def test_it_never_overtakes_nor_joins_queued_packets():
    socket = make_socket()
    socket.put_client_msg("5:::queued")
    poll_ready = socket.client_queue.qsize()
    assert poll_ready == 1
    assert socket.put_volatile_msg("5:::volatile") is False
    assert sent(socket) == ["5:::queued"]


def test_non_volatile_packets_are_still_queued_between_polls():
    socket = make_socket()
    for n in range(50):
        socket.put_client_msg(f"5:::{n}")
    assert len(sent(socket)) == 50


def test_a_session_not_yet_connected_or_ended_drops_it():
    socket = make_socket(connected=False)
    poll = held_poll(socket)
    assert socket.put_volatile_msg("5:::x") is False
    socket.incr_hits()
    socket.kill()
    assert socket.put_volatile_msg("5:::x") is False
    assert socket.volatile_dropped == 2
    poll.kill()


def test_a_websocket_with_an_empty_backlog_writes_it():
    socket = make_socket()
    output = FakeOutput()
    socket.attach_output(output)
    assert socket.put_volatile_msg("5:::x") is True
    assert output.written == ["5:::x"]


def test_a_websocket_with_a_backlog_drops_it():
    server = CountingServer()
    socket = make_socket(server=server)
    output = FakeOutput(backlog=1)
    socket.attach_output(output)
    assert socket.put_volatile_msg("5:::x") is False
    assert output.written == []
    assert (socket.volatile_dropped, server.volatile_dropped) == (1, 1)


def test_a_flood_of_volatile_packets_never_makes_a_slow_consumer():
    socket = make_socket(config={"max_queue_size": 5})
    socket.attach_output(FakeOutput(backlog=4))
    for _ in range(1000):
        socket.put_volatile_msg("5:::x")
    gevent.sleep(0)
    assert socket.connected
    assert socket.volatile_dropped == 1000


def test_a_bare_server_object_counts_nothing_but_the_session():
    socket = make_socket()  # tests.unit.fake_server's, without the counter
    socket.put_volatile_msg("5:::x")
    assert socket.volatile_dropped == 1
    assert not hasattr(socket.server, "volatile_dropped")


# -- the namespace -------------------------------------------------------------


class Live(BaseNamespace, BroadcastMixin, RoomsMixin):
    def on_go(self, how: str) -> None:
        if how == "emit":
            self.emit("tick", 1, volatile=True)
        elif how == "send":
            self.send("tick", volatile=True)
        elif how == "twice":
            self.emit("tick", 1, volatile=True)
            self.emit("tick", 2, volatile=True)
        elif how == "room":
            self.emit_to_room("r", "tick", 3, volatile=True)
        elif how == "broadcast":
            self.broadcast_event("tick", 4, volatile=True)
        elif how == "join":
            self.join("r")


def live_client(server: Optional[FakeServer] = None) -> SocketIOTestClient:
    client = SocketIOTestClient({"/live": Live}, server=server)
    assert client.connect("/live")
    return client


def ticks(client: SocketIOTestClient) -> list[Any]:
    received = client.get_received("/live")
    return [p.get("args", p.get("data")) for p in received if p["type"] in ("event", "message")]


def test_emit_and_send_take_volatile():
    client = live_client()
    client.emit("go", "emit", namespace="/live")
    client.emit("go", "send", namespace="/live")
    assert ticks(client) == [[1], "tick"]


def test_the_test_client_takes_one_when_nothing_else_waits():
    client = live_client()
    client.emit("go", "twice", namespace="/live")
    assert ticks(client) == [[1]]
    assert client.socket.volatile_dropped == 1


def test_volatile_with_a_callback_is_refused():
    socket = make_socket({"/live": Live})
    ns = Live(socket.environ, "/live")
    with pytest.raises(ConfigError, match="volatile event takes no callback"):
        ns.emit("tick", callback=lambda *a: None, volatile=True)
    with pytest.raises(ConfigError, match="volatile message takes no callback"):
        ns.send("tick", callback=lambda *a: None, volatile=True)
    assert socket.ack_callbacks == {}


def test_broadcast_and_rooms_drop_for_busy_clients_only():
    server = FakeServer()
    a, b = live_client(server), live_client(server)
    b.emit("go", "join", namespace="/live")
    a.emit("go", "join", namespace="/live")
    b.socket.put_client_msg("5::/live:busy")  # b's client has something waiting
    a.emit("go", "room", namespace="/live")
    assert b.socket.volatile_dropped == 1
    a.emit("go", "broadcast", namespace="/live")
    assert ticks(a) == [[4]]
    assert server.volatile_dropped == 2  # b dropped both
    server.close()


def test_without_a_manager_the_mixins_drop_too():
    server = CountingServer()
    me = make_socket({"/live": Live}, server=server)
    other = make_socket({"/live": Live}, server=server)
    for socket in (me, other):
        socket.active_ns["/live"] = Live(socket.environ, "/live")
    me.active_ns["/live"].broadcast_event("tick", volatile=True)
    assert server.volatile_dropped == 2  # nobody polls


# -- the managers ----------------------------------------------------------------


def test_the_memory_manager_delivers_volatile_through_its_own_callable():
    manager = MemoryManager()
    calls = []
    manager.set_deliver(lambda sessid, encoded: calls.append(("plain", sessid)))
    manager.add_socket("s1", "/x")
    assert manager.emit_volatile("/x", "5::/x:{}") == 1
    assert calls == [("plain", "s1")]  # without a volatile callable: as the others
    manager.set_volatile_deliver(lambda sessid, encoded: calls.append(("volatile", sessid)))
    manager.emit_volatile("/x", "5::/x:{}")
    manager.emit("/x", "5::/x:{}")
    assert calls[1:] == [("volatile", "s1"), ("plain", "s1")]


def test_a_manager_written_before_volatile_delivers_it_as_the_others():
    class Old(BaseManager):
        def __init__(self) -> None:
            self.emitted: list[tuple[Any, ...]] = []

        def emit(self, endpoint: str, encoded: str, room: Any = None, skip: Any = None) -> int:
            self.emitted.append((endpoint, encoded, room, skip))
            return 1

    old = Old()
    old.set_volatile_deliver(lambda sessid, encoded: None)
    assert old.emit_volatile("/x", "p", "r", "s") == 1
    assert old.emitted == [("/x", "p", "r", "s")]


class LoopbackManager(PubSubManager):
    """A pub/sub manager whose bus is a list."""

    def __init__(self) -> None:
        super().__init__()
        self.bus: list[dict[str, Any]] = []

    def _publish(self, message: dict[str, Any]) -> None:
        self.bus.append(message)

    def _listen(self) -> Any:
        return iter(())


def test_the_flag_travels_in_the_bus_message_and_is_honoured_there():
    sender, receiver = LoopbackManager(), LoopbackManager()
    sender.emit_volatile("/x", "v", room="r")
    sender.emit("/x", "p")
    assert sender.flush(1)
    assert [m.get("volatile") for m in sender.bus] == [True, None]
    assert "volatile" not in sender.bus[1]  # a plain message is as it always was
    calls = []
    receiver.set_deliver(lambda sessid, encoded: calls.append(("plain", encoded)))
    receiver.set_volatile_deliver(lambda sessid, encoded: calls.append(("volatile", encoded)))
    receiver.add_socket("s1", "/x")
    receiver.join("s1", "/x", "r")
    for message in sender.bus:
        receiver._handle_message(message)
    assert calls == [("volatile", "v"), ("plain", "p")]
    receiver._handle_message({**sender.bus[1], "volatile": "yes"})  # only true counts
    assert calls[-1] == ("plain", "p")
    sender.close()


def test_the_emitter_marks_volatile_messages():
    published: list[str] = []

    class FakeRedis:
        def publish(self, channel: str, data: str) -> int:
            published.append(data)
            return 1

    emitter = Emitter("redis://127.0.0.1:1/0")  # redis-py connects lazily
    emitter.redis = FakeRedis()  # type: ignore[assignment]
    emitter.emit("price", 1.5, namespace="/t", volatile=True)
    emitter.send("hi", namespace="/t", volatile=True)
    emitter.emit("price", 1.5, namespace="/t")
    messages = [json.loads(data) for data in published]
    assert [m.get("volatile") for m in messages] == [True, True, None]
    assert "volatile" not in messages[2]  # a plain message is as it always was


def test_both_servers_deliver_volatile_through_one_function():
    from socketio.server import SocketIOServer
    from socketio.testing_server import FakeServer as Fake

    assert SocketIOServer._deliver_volatile is deliver_volatile_to_session
    assert Fake._deliver_volatile is deliver_volatile_to_session
    assert SocketIOServer._deliver is deliver_to_session


def test_an_encoded_packet_is_what_the_client_gets():
    socket = make_socket({"/live": Live})
    poll = held_poll(socket)
    Live(socket.environ, "/live").emit("tick", {"a": 1}, volatile=True)
    (raw,) = poll.get(timeout=1)
    assert packet.decode(raw) == packet.decode('5::/live:{"name":"tick","args":[{"a":1}]}')
