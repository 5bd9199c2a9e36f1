"""A minimal stand-in for the server, as the original library's users built in their tests.

A :class:`~socketio.virtsocket.Socket` only needs an object with a ``sockets``
dict; ``environ['socketio']`` points back at the socket. No network is involved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import gevent

from socketio import fairness, packet
from socketio.virtsocket import Socket
from tests.client09.waiting import wait_for

T = TypeVar("T")


class FakeServer:
    """Just the ``sockets`` dict (no manager: mixins walk the sockets)."""

    def __init__(self) -> None:
        self.sockets: dict[str, Socket] = {}


def make_socket(
    namespaces: dict[str, type] | None = None,
    server: Any = None,
    config: dict[str, Any] | None = None,
    request: Any = None,
    connected: bool = True,
) -> Socket:
    """A Socket registered in ``server.sockets`` with its environ set, optionally connected."""
    if server is None:
        server = FakeServer()
    socket = Socket(server, config or {})
    server.sockets[socket.sessid] = socket
    socket._set_environ({"socketio": socket, "PATH_INFO": "/socket.io/1/"})
    socket._set_namespaces(namespaces or {})
    socket._set_request(request)
    if connected:
        socket.incr_hits()
    return socket


def sent(socket: Socket) -> list[str]:
    """Take every packet queued for the client (``None`` markers dropped)."""
    out = []
    while socket.client_queue.qsize():
        msg = socket.client_queue.get_nowait()
        if msg is not None:
            out.append(msg)
    return out


def sent_packets(socket: Socket) -> list[dict[str, Any]]:
    """As :func:`sent`, decoded."""
    return [packet.decode(m) for m in sent(socket)]


def feed(socket: Socket, *raw: str) -> None:
    """Give raw packets from the client to the socket's receiver loop and let it run.

    The loop (``Socket._spawn_receiver_loop``, what ``socketio_manage`` starts)
    is started on first use; this returns once it has handled every packet
    and waits for the next one (or has ended), or after a bounded number of
    turns if a handler keeps it busy.
    """
    loop = getattr(socket, "_test_receiver", None)
    if loop is None or loop.dead:
        loop = socket._test_receiver = socket._spawn_receiver_loop()  # type: ignore[attr-defined]
    for msg in raw:
        socket.put_server_msg(msg)
    queue = socket.server_queue
    for _ in range(1000):
        # A turn of the loop each time: the receiver's own pauses wait for
        # one (gevent.sleep(0) alone could run 1000 times within one turn).
        fairness.pause()
        # (a packet taken may still be in hand: done when none is)
        if not queue.qsize() and (loop.dead or socket.dispatching is None):
            break
    gevent.sleep(0)


def wait_until(predicate: Callable[[], T], what: str, timeout: float = 5) -> T:
    """Let the other greenlets run until ``predicate`` holds (they have done ``what``)."""
    return wait_for(predicate, timeout, what, sleep=gevent.sleep, interval=0.001)


def error_event(name: str, message: str, endpoint: str = "") -> str:
    """The wire form of the ``error`` event the default error handler sends."""
    return packet.encode(
        {"type": "event", "name": "error", "args": [name, message], "endpoint": endpoint}
    )
