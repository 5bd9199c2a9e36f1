"""Kept-alive connections to session owners: reused while open and fresh, bounded per owner."""

from __future__ import annotations

import os
import resource
import socket
import time

import gevent.socket
import pytest
from gevent.socket import wait_read

from socketio.forwarding import MAX_IDLE_PER_OWNER, OwnerConnections
from socketio.relay import ForwardAddress


@pytest.fixture
def owner():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []

    class Owner:
        address = ForwardAddress("tcp", "127.0.0.1", listener.getsockname()[1])

        def accept(self) -> socket.socket:
            conn, _ = listener.accept()
            accepted.append(conn)
            return conn

    yield Owner()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_connection_given_back_is_taken_again(owner):
    pool = OwnerConnections(1.0, 5.0)
    first = pool.take(owner.address)[0]
    pool.give_back(owner.address, first)
    assert pool.idle == 1
    assert pool.take(owner.address) == (first, True)
    assert pool.idle == 0


def test_a_connection_the_owner_closed_is_dropped_for_a_new_one(owner):
    pool = OwnerConnections(1.0, 5.0)
    first = pool.take(owner.address)[0]
    owner.accept().close()  # (the owner stops)
    pool.give_back(owner.address, first)
    wait_read(first.fileno(), 5)  # (its FIN has come; no select(): fds may pass 1024)
    second = pool.take(owner.address)[0]
    assert second is not first
    assert first.fileno() == -1  # closed
    second.close()


def test_a_connection_with_unasked_bytes_is_not_reused(owner):
    pool = OwnerConnections(1.0, 5.0)
    first = pool.take(owner.address)[0]
    owner.accept().sendall(b"HTTP/1.1 200 OK\r\n")  # (what nobody asked for)
    pool.give_back(owner.address, first)
    wait_read(first.fileno(), 5)
    second = pool.take(owner.address)[0]
    assert second is not first
    second.close()


def test_a_connection_past_descriptor_1024_is_taken_again(owner):
    # A busy process's descriptors pass select()'s 1024: still reused.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft <= 1500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(2048, hard), hard))
    pool = OwnerConnections(1.0, 5.0)
    taken = pool.take(owner.address)[0]
    high = os.dup2(taken.fileno(), 1500)
    first = gevent.socket.socket(fileno=high)
    taken.close()
    owner.accept()
    pool.give_back(owner.address, first)
    assert pool.take(owner.address) == (first, True)
    first.close()


def test_an_idle_connection_expires(owner):
    pool = OwnerConnections(1.0, 0.05)
    first = pool.take(owner.address)[0]
    pool.give_back(owner.address, first)
    time.sleep(0.1)
    second = pool.take(owner.address)[0]
    assert second is not first
    second.close()


def test_at_most_so_many_are_kept_per_owner(owner):
    pool = OwnerConnections(1.0, 5.0)
    conns = [pool.take(owner.address)[0] for _ in range(MAX_IDLE_PER_OWNER + 5)]
    for conn in conns:
        pool.give_back(owner.address, conn)
    assert pool.idle == MAX_IDLE_PER_OWNER
    assert sum(conn.fileno() == -1 for conn in conns) == 5  # the oldest, closed


def test_an_owner_that_refuses_raises():
    gone = socket.socket()
    gone.bind(("127.0.0.1", 0))
    port = gone.getsockname()[1]
    gone.close()
    with pytest.raises(ConnectionRefusedError):
        OwnerConnections(1.0, 5.0).take(ForwardAddress("tcp", "127.0.0.1", port))
