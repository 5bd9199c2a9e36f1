"""The connections of one server process: their greenlets, their timeouts, and the cap.

:class:`ConnectionTracker` counts a server's connections and ends those that
wait on their client too long (request head, keep-alive, body);
:class:`ConnectionGreenlet` is the lighter greenlet each connection runs in;
:class:`AcceptGuard` keeps the accept loop alive when file descriptors run out.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from socket import SHUT_RD, SHUT_RDWR
from typing import Any, Optional

from gevent import Greenlet
from gevent.pywsgi import WSGIServer
from gevent.queue import Empty

from .config import Config
from .deadlines import Deadlines
from .geventsocket import os_socket
from .peerlog import PeerLog

__all__ = ["AcceptGuard", "ConnectionGreenlet", "ConnectionTracker", "refuse"]

# Logged under the server's name, which operators filter on (these lines
# were the server module's before it was split).
log = logging.getLogger("socketio.server")


class ConnectionGreenlet(Greenlet):
    """The greenlet of one connection: gevent's, lighter for as long as a websocket lasts.

    A websocket's greenlet is parked for the whole connection, and three
    things of gevent's make it keep more than it needs (what each costs, per
    CPython version, is in ``benchmarks/RESULTS.md``):

    * a copy of its spawning stack: connections are all spawned by the same
      accept loop, so it says nothing (gevent's ``spawning_stack_limit``
      option turns it off, its spawning greenlet and ``spawn_tree_locals``
      are kept);
    * the task given to ``spawn``, stored in a ``__dict__`` of the instance's
      own: the task is this class's ``_run()``;
    * gevent's ``_handle_and_close_when_done`` calls ``handle(*args)``, which
      CPython makes through the C API: greenlet keeps a copy of a parked
      greenlet's C stack, and that call makes it deeper.
    """

    # gevent's hub calls a greenlet's switch_out, if set, before it parks;
    # a websocket's reader sets it while a handler runs (socketio.ws_transport).
    # A slot: set on the instance, it would give each greenlet a dict.
    __slots__ = ("switch_out",)

    spawning_stack_limit = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set, not left empty: the hub looks it up at every wait, and an empty
        # slot answers that lookup with an exception (dear on CPython).
        self.switch_out: Optional[Callable[[], None]] = None

    @staticmethod
    def _run(
        handle: Callable[..., Any], close: Callable[..., Any], sock: Any, address: Any
    ) -> None:
        try:
            handle(sock, address)
        finally:
            close(sock, address)


#: connections dropped to make room whose greenlets have not closed them yet;
#: past this many, new connections are refused instead (each one dropped
#: keeps its descriptor until its greenlet runs, and the accept loop takes
#: up to a hundred connections a turn: without this bound a burst of them
#: would outgrow the open-files limit that ``max_connections`` keeps under)
_DROPPING = 32

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Retry-After: 1\r\nContent-Length: 12\r\n\r\nserver busy\n"
)


def refuse(sock: Any) -> None:
    """Answer a connection 503 and close it, without waiting for anything."""
    raw = os_socket(sock)
    try:
        raw.send(_BUSY)
        # Unread bytes at close would make the kernel reset the connection,
        # and the client could lose the answer: take what has arrived.
        raw.recv(65536)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class ConnectionTracker:
    """The connections of one server process, and which of them wait on their client.

    Each connection is counted from its accept to its close. While it waits
    for its client it is also in one of three phases, each a dict of
    handler → the loop's time (``loop.now()``, cached for each turn of the
    loop: cheaper than reading a clock) of the phase's start, in the order
    the phases started (a handler leaves a phase before entering the next,
    so each dict stays in time order):

    * ``heads``: reading a request head (from the accept for the first
      request, from its first byte for later ones), ``head_timeout``;
    * ``idle``: kept alive between two requests, ``keepalive_timeout``;
    * ``bodies``: reading a request body, ``body_timeout``.

    A periodic sweep (one libev timer per server, not one per request) ends
    the connections whose phase outlasted its timeout: a head or idle one is
    closed, a body one is shut for reading and marked ``timed_out``, so its
    handler answers 408. Past ``limit`` connections, :meth:`make_room`
    closes the one that has waited longest for a request head. Upgraded
    websockets and held polling requests are in no phase: their own
    heartbeat and polling timeouts govern them.

    Args:
        config: the server's settings (timeouts, ``max_connections``).
        loop: the gevent loop the sweep runs on.
    """

    def __init__(self, config: Config, loop: Any) -> None:
        self.config = config
        #: rate-limited lines about clients (one tracker per server: per-server counts)
        self.peer_log = PeerLog(log)
        self.loop = loop
        #: connections accepted and not yet closed
        self.count = 0
        self.limit = _connection_limit(config.max_connections)
        self.heads: dict[Any, float] = {}
        self.idle: dict[Any, float] = {}
        self.bodies: dict[Any, float] = {}
        #: handlers whose body timed out: they answer 408
        self.timed_out: set[Any] = set()
        #: bytes of request bodies being read, by :meth:`reserve_body`
        self.body_bytes = 0
        #: connections closed by :meth:`make_room` that have not ended yet
        self.dropping: set[Any] = set()
        #: the held polls' deadlines (``poll_hold``): one timer for all of them
        self.polls = Deadlines(loop, Empty)
        self._timer: Any = None

    # -- the sweep ----------------------------------------------------------

    def start(self) -> None:
        """Start the periodic sweep (idempotent)."""
        if self._timer is not None:
            return
        config = self.config
        shortest = min(config.head_timeout, config.keepalive_timeout, config.body_timeout)
        period = max(0.05, min(1.0, shortest / 4))
        timer = self.loop.timer(period, period)
        timer.ref = False  # it never keeps the process alive by itself
        timer.start(self.sweep)
        self._timer = timer

    def stop(self) -> None:
        """Stop the periodic sweep."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()
            timer.close()

    def sweep(self) -> None:
        """End every connection whose phase has lasted longer than its timeout."""
        now = self.loop.now()
        config = self.config
        for phase, timeout in (
            (self.heads, config.head_timeout),
            (self.idle, config.keepalive_timeout),
        ):
            while phase:
                handler, since = next(iter(phase.items()))
                if now - since < timeout:
                    break
                del phase[handler]
                self.peer_log(
                    "head-timeout",
                    "closing a connection from %s: no request within %ss",
                    _peer(handler),
                    timeout,
                )
                _shutdown(handler)
        bodies = self.bodies
        while bodies:
            handler, since = next(iter(bodies.items()))
            if now - since < config.body_timeout:
                break
            del bodies[handler]
            if _body_read(handler):
                continue  # the application is slow, not the client
            self.peer_log(
                "body-timeout",
                "a request body from %s took over %ss: answering 408",
                _peer(handler),
                config.body_timeout,
            )
            self.timed_out.add(handler)
            _shutdown(handler, SHUT_RD)

    # -- the cap ------------------------------------------------------------

    def make_room(self) -> bool:
        """Close the connection that has waited longest for a request head, if any.

        Returns:
            Whether one was closed (not when too many of those it closed
            have yet to end: see ``_DROPPING``).
        """
        if len(self.dropping) >= _DROPPING:
            return False
        heads, idle = self.heads, self.idle
        victim = None
        if heads:
            victim, since = next(iter(heads.items()))
        if idle:
            candidate, idle_since = next(iter(idle.items()))
            if victim is None or idle_since < since:
                victim = candidate
        if victim is None:
            return False
        heads.pop(victim, None)
        idle.pop(victim, None)
        self.dropping.add(victim)
        self.peer_log(
            "connection-cap",
            "%d connections: closing the one from %s that waited longest for a request",
            self.count,
            _peer(victim),
        )
        _shutdown(victim)
        return True

    # -- the memory of bodies -----------------------------------------------

    def reserve_body(self, size: int) -> bool:
        """Count ``size`` bytes of a body about to be read, if ``max_total_body_size`` allows.

        Returns:
            Whether they were counted; if so, call :meth:`release_body` once
            the body is read (or given up).
        """
        total = self.body_bytes + size
        if total > self.config.max_total_body_size:
            return False
        self.body_bytes = total
        return True

    def release_body(self, size: int) -> None:
        """Stop counting ``size`` bytes counted by :meth:`reserve_body`."""
        self.body_bytes -= size

    def forget(self, handler: Any) -> None:
        """``handler``'s connection has ended: drop it from every phase."""
        self.heads.pop(handler, None)
        self.idle.pop(handler, None)
        self.bodies.pop(handler, None)
        self.timed_out.discard(handler)
        self.dropping.discard(handler)


def _connection_limit(configured: Optional[int]) -> int:
    """``max_connections``, or the open-files limit minus 128 (what the process keeps)."""
    if configured is not None:
        return configured
    try:
        import resource  # (Unix only)

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 1 << 30
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return 1 << 30
    return max(1, soft - 128)


def _peer(handler: Any) -> str:
    address = getattr(handler, "client_address", None)
    return str(address[0]) if isinstance(address, tuple) and address else str(address)


def _shutdown(handler: Any, how: int = SHUT_RDWR) -> None:
    """Wake the greenlet reading ``handler``'s connection with an end of file.

    ``SHUT_RDWR`` ends the connection (its greenlet wakes and closes it);
    ``SHUT_RD`` stops a body's reading but leaves the answer to be written.
    (``close()`` would not do: the handler's reader holds the socket open,
    and the waiting greenlet would not wake.)
    """
    sock = getattr(handler, "socket", None)
    if sock is not None:
        try:
            sock.shutdown(how)
        except OSError:
            pass


def _body_read(handler: Any) -> bool:
    """Whether the handler's request body has been read to its end."""
    body = getattr(handler, "wsgi_input", None)
    if body is None:
        return True
    if body.chunked_input:
        return bool(body.chunk_length == 0)
    return bool(body.position >= (body.content_length or 0))


_ABSENT: Any = object()


#: accept's errors that mean the process (or system) has no file descriptor left
_OUT_OF_FILES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: seconds accepting pauses after such an error
_ACCEPT_PAUSE = 0.1


class AcceptGuard:
    """The accept loop of :class:`~socketio.server.SocketIOServer` (a base class of it).

    Reads the server's ``server_logs``, ``connections``, ``loop``,
    ``started`` and ``closed``; the methods are ``WSGIServer``'s seams.
    """

    server_logs: Any
    connections: ConnectionTracker
    loop: Any
    started: bool
    closed: bool

    def do_read(self) -> Any:
        """Accept a connection; out of file descriptors, make room and pause instead.

        gevent would log a traceback for each failed accept (and retry with
        a growing delay). Here a full file table closes the connection that
        has waited longest for a request head, and accepting pauses for a
        moment; the line is logged once in a while.
        """
        try:
            return super().do_read()  # type: ignore[misc]  # (WSGIServer's, next in the MRO)
        except OSError as exc:
            if exc.errno not in _OUT_OF_FILES:
                raise
            self.server_logs.server(
                "accept-failed",
                "cannot accept connections: %s (%d open)",
                exc.strerror or exc,
                self.connections.count,
            )
            self.connections.make_room()
            self._pause_accepting()
            return None

    def _pause_accepting(self) -> None:
        """Stop accepting for a moment (the listening socket stays readable: no spinning)."""
        WSGIServer.stop_accepting(self)
        timer = self.loop.timer(_ACCEPT_PAUSE)
        timer.start(self._resume_accepting, timer)

    def _resume_accepting(self, timer: Any) -> None:
        timer.close()
        if self.started and not self.closed:
            WSGIServer.start_accepting(self)
