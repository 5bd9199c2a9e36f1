"""Every use of gevent's socket internals, in one place.

The connection's reading and closing lean on three names of gevent's
cooperative socket that gevent does not document: ``_sock`` (the
non-blocking OS socket it wraps), ``_read_event`` (its own libev read
watcher, which its reads wait on) and ``_wait`` (the wait its reads make:
the socket's timeout, and the error gevent's ``cancel_wait`` throws into
the waiting greenlet when the socket is closed under it). They are used
only through the functions below, and ``tests/unit/test_geventsocket.py``
checks each still exists, and still behaves as assumed, on real sockets: a
gevent upgrade that renames one fails there first, by name.

Each caller falls back to a public path for a socket that is not gevent's
plain one (an SSL socket, another server's socket class): see there.
"""

from __future__ import annotations

from typing import Any, Optional

import gevent.socket

__all__ = ["is_plain", "os_socket", "read_watcher", "wait_readable"]

_PLAIN = gevent.socket.socket


def is_plain(sock: Any) -> bool:
    """Whether ``sock`` is exactly gevent's socket class (not an SSL socket or another subclass).

    An SSL socket may hold decrypted bytes its descriptor does not show:
    waiting on its descriptor before reading could wait for ever.
    """
    return type(sock) is _PLAIN


def os_socket(sock: Any) -> Any:
    """The non-blocking OS socket under gevent's ``sock``, or ``sock`` itself for any other.

    Its calls never wait: a ``send`` or ``recv`` on it does what the kernel
    can do now, or raises.
    """
    return getattr(sock, "_sock", sock)


def read_watcher(sock: Any) -> Optional[Any]:
    """The read watcher gevent's ``sock`` reads wait on, or ``None`` for another socket.

    When a socket is closed, gevent's ``cancel_wait`` throws its error into
    the ``__self__`` of this watcher's callback (for gevent's own waits, a
    greenlet's ``switch``).
    """
    return getattr(sock, "_read_event", None)


def wait_readable(sock: Any) -> None:
    """Wait until gevent's ``sock`` is readable, as its own ``recv_into`` waits after ``EAGAIN``.

    Raises:
        socket.timeout: the socket's timeout passed first.
        OSError: the socket was closed meanwhile (gevent's ``cancel_wait``).
    """
    sock._wait(sock._read_event)
