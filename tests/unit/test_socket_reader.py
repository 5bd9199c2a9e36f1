"""``httpreader.SocketReader``: a connection's raw reader, waiting for bytes after a short read.

Over real gevent socket pairs. gevent's ``recv_into`` is wrapped (on its class,
for the test) to count the reads that found nothing: after a short read, the
reader waits on the socket's watcher instead of trying one.
"""

from __future__ import annotations

import io
import socket
from typing import Any

import gevent
import gevent.socket
import gevent.ssl
import pytest

from socketio.httpreader import READ_BUFFER_SIZE, SocketReader, connection_reader


@pytest.fixture
def empty_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the ``recv_into`` calls on gevent sockets that found nothing to read."""
    found: list[int] = []
    raw_recv_into = socket.socket.recv_into
    stock = gevent.socket.socket.recv_into

    def recv_into(self: Any, buffer: Any, *args: Any) -> Any:
        try:
            return raw_recv_into(self._sock, buffer, *args)
        except BlockingIOError:
            found.append(1)
        return stock(self, buffer, *args)

    monkeypatch.setattr(gevent.socket.socket, "recv_into", recv_into)
    return found


@pytest.fixture
def drained(socket_pair: tuple[Any, Any]) -> tuple[Any, Any, Any]:
    """``(reader, a, b)``: ``a``'s reader, whose last read was short (one byte ``b`` sent)."""
    a, b = socket_pair
    reader = connection_reader(a)
    b.sendall(b"a")
    assert reader.read(1) == b"a"
    return reader, a, b


def test_a_plain_gevent_socket_is_read_through_a_socket_reader(socket_pair):
    a, _ = socket_pair
    reader = connection_reader(a)
    assert isinstance(reader, io.BufferedReader)
    assert type(reader.raw) is SocketReader


def test_a_subclass_such_as_an_ssl_socket_is_read_as_its_makefile_reads_it():
    """An SSL socket's descriptor does not show the decrypted bytes it holds: no waiting first."""
    assert issubclass(gevent.ssl.SSLSocket, gevent.socket.socket)

    class Wrapped(gevent.socket.socket):
        pass

    sock = Wrapped()
    try:
        assert type(connection_reader(sock).raw) is not SocketReader
    finally:
        sock.close()


def test_after_a_short_read_the_next_waits_for_bytes_instead_of_failing_a_read(
    socket_pair, empty_reads
):
    a, b = socket_pair
    reader = connection_reader(a)
    b.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert reader.peek(1).startswith(b"GET /")  # the first read is tried at once
    reader.read(len(reader.peek(1)))  # (the buffer is empty again)
    assert empty_reads == []

    later = gevent.spawn_later(0.01, b.sendall, b"NEXT")
    assert reader.peek(1) == b"NEXT"  # waited for it, then one read that found it
    later.get()
    assert empty_reads == []


def test_a_full_read_is_followed_by_a_read_at_once(socket_pair, empty_reads):
    a, b = socket_pair
    reader = connection_reader(a, size=16)
    b.sendall(b"x" * 16)
    assert reader.read(16) == b"x" * 16  # a full read: more may be waiting
    later = gevent.spawn_later(0.01, b.sendall, b"y")
    assert reader.read(1) == b"y"
    later.get()
    assert empty_reads == [1]  # tried at once, found nothing, then waited (gevent's own way)


def test_the_socket_timeout_holds_for_the_wait(drained):
    reader, a, _ = drained
    a.settimeout(0.01)
    with pytest.raises(socket.timeout):
        reader.peek(1)
    with pytest.raises(OSError, match="timed out object"):  # as the stdlib's reader refuses
        reader.peek(1)


def test_a_socket_closed_under_the_wait_ends_it(drained):
    reader, a, _ = drained
    waiting = gevent.spawn(reader.peek, 1)
    gevent.sleep(0.01)
    a.close()  # gevent's cancel_wait: an error in the waiting greenlet
    with pytest.raises(OSError, match="closed in another greenlet"):
        waiting.get(timeout=5)


def test_a_non_blocking_socket_is_read_at_once(drained):
    reader, a, _ = drained
    a.settimeout(0.0)
    assert reader.peek(1) == b""  # EAGAIN: nothing, no wait (as websocket upgrades peek)


def test_the_end_of_the_connection_is_read(socket_pair):
    a, b = socket_pair
    reader = connection_reader(a, READ_BUFFER_SIZE)
    b.sendall(b"last")
    b.close()
    assert reader.read() == b"last"
