"""The guard of :mod:`socketio.geventsocket`: gevent's socket internals it leans on.

Each name is checked to exist, and to behave as the module's callers assume,
on real gevent socket pairs: a gevent upgrade that renames one or changes
what it does fails here first, by name.
"""

from __future__ import annotations

import _socket
import socket
from typing import Any

import gevent
import gevent.socket
import gevent.ssl
import pytest

from socketio.geventsocket import is_plain, os_socket, read_watcher, wait_readable


def test_the_private_names_used_still_exist(socket_pair):
    a, _ = socket_pair
    assert callable(gevent.socket.socket._wait)
    assert isinstance(a._sock, _socket.socket)  # (the OS's, non-blocking)
    assert a._sock.gettimeout() == 0.0
    assert a._read_event.fd == a.fileno()


def test_only_gevent_s_own_class_is_plain(socket_pair):
    a, _ = socket_pair
    assert is_plain(a)
    assert not is_plain(a._sock)
    assert not is_plain(gevent.ssl.SSLSocket.__new__(gevent.ssl.SSLSocket))


def test_the_os_socket_never_waits(socket_pair):
    a, _ = socket_pair
    raw = os_socket(a)
    assert raw is a._sock
    with pytest.raises(BlockingIOError):
        raw.recv(1)
    assert os_socket(raw) is raw  # (any other socket: itself)


def test_the_read_watcher_is_the_one_gevent_s_reads_wait_on(socket_pair):
    a, b = socket_pair
    watcher = read_watcher(a)
    assert watcher is a._read_event
    reader = gevent.spawn(a.recv, 1)
    gevent.sleep(0.01)
    assert watcher.active  # (gevent's recv waits on it)
    b.sendall(b"x")
    assert reader.get(timeout=5) == b"x"
    assert read_watcher(object()) is None


def test_wait_readable_returns_once_bytes_are_there(socket_pair):
    a, b = socket_pair
    waiter = gevent.spawn(wait_readable, a)
    gevent.sleep(0.01)
    assert not waiter.dead
    b.sendall(b"x")
    waiter.get(timeout=5)
    assert a.recv(1) == b"x"


def test_wait_readable_keeps_the_socket_s_timeout(socket_pair):
    a, _ = socket_pair
    a.settimeout(0.01)
    with pytest.raises(socket.timeout):
        wait_readable(a)


def test_closing_the_socket_ends_the_wait_with_an_error(socket_pair):
    a, _ = socket_pair
    waiter = gevent.spawn(wait_readable, a)
    gevent.sleep(0.01)
    a.close()  # gevent's cancel_wait
    with pytest.raises(OSError, match="closed"):
        waiter.get(timeout=5)


def test_cancel_wait_throws_into_the_callback_s_owner(socket_pair):
    # wsconn's _Readiness starts the watcher with its own bound method and
    # takes gevent's error through its throw(): gevent must still throw into
    # the callback's __self__.
    a, _ = socket_pair
    thrown: list[Any] = []

    class Owner:
        def fire(self) -> None:
            pass

        def throw(self, *exc: Any) -> None:
            thrown.append(exc)

    watcher = read_watcher(a)
    watcher.start(Owner().fire)
    a.close()
    gevent.sleep(0.01)
    assert thrown
    assert isinstance(thrown[0][0], OSError) or (
        isinstance(thrown[0][0], type) and issubclass(thrown[0][0], OSError)
    )
