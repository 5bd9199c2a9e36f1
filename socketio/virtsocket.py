"""The virtual socket: one Socket.IO session, whatever transport carries it.

A :class:`Socket` outlives the HTTP requests of the polling transports. It
holds the session dict, the ack table, the active namespace instances and the
greenlets that serve it, and is made of parts, each with one job and a public
interface, each in its own module:

* :class:`~socketio.outbox.Outbox`: the queues of packets for the client and
  from it (made on first use), the direct output of a websocket, the
  slow-consumer policy;
* :class:`~socketio.dispatcher.Dispatcher`: the receiver loop (run by
  :func:`socketio.socketio_manage` in the application's greenlet), the
  dispatch lock that handles packets one at a time and in order whichever
  greenlet reads them, the abort of a handler when the session is killed;
* :class:`~socketio.session_clock.SessionClock`: the hub timer that sends
  heartbeats and closes a silent session;
* :class:`~socketio.acks.AckTable`: the callbacks waiting for the client's
  acks, their optional timeouts and their bound;
* :class:`~socketio.session_compat.Compat03`: the names only code written
  for gevent-socketio 0.3 uses.

The parts share the session's slots rather than being objects of their own:
a session costs no more memory, and a packet no more calls, than if they
were written in one class (see ``benchmarks/RESULTS.md``). This module keeps
what is left: the session's life (:meth:`Socket.kill` and the polling
"farewell" policy), namespaces and sending.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

import gevent
import gevent.event
import gevent.lock
import gevent.queue

from . import packet
from .acks import AckTable
from .config import POLLING_TRANSPORTS, Config
from .defaultjson import default_json_dumps, default_json_loads
from .dispatcher import BURST, DispatchAborted, Dispatcher
from .outbox import Outbox
from .ratelimit import new_bucket
from .seams import Output, SessionHost, host_keep_farewell, host_manager, session_logs
from .session_clock import SessionClock
from .session_compat import Compat03
from .sessionid import new_sessid
from .state import SessionState, can_move

if TYPE_CHECKING:  # pragma: no cover
    from .manager import BaseManager
    from .namespace import BaseNamespace

__all__ = ["BURST", "DispatchAborted", "Output", "Socket", "default_error_handler", "new_sessid"]

log = logging.getLogger(__name__)

_NEW = SessionState.NEW
_CONNECTED = SessionState.CONNECTED
_DISCONNECTING = SessionState.DISCONNECTING


def default_error_handler(
    socket: Socket,
    error_name: str,
    error_message: str,
    endpoint: Optional[str],
    msg_id: Optional[int],
    quiet: bool,
) -> None:
    """Send an ``error`` event (``args=[error_name, error_message]``) and log it.

    Nothing is sent when ``quiet`` is true. ``msg_id``, when given, becomes
    the packet's id. The log line is an INFO line, written once per error
    name every ten seconds at most (the next one counts those left out),
    with the client's text in it escaped and clipped: these errors are the
    client's mistakes, which a client can repeat as fast as it likes.
    """
    pkt: dict[str, Any] = {
        "type": "event",
        "name": "error",
        "args": [error_name, error_message],
        "endpoint": endpoint or "",
    }
    if msg_id:
        pkt["id"] = msg_id
    session_logs(socket.server).client_errors(
        "error " + str(error_name)[:40],
        "error %s %s: %s, %s (endpoint=%s, msg_id=%s)",
        "noted for" if quiet else "sent to",
        socket.sessid,
        error_name,
        error_message,
        endpoint,
        msg_id,
    )
    if not quiet:
        socket.send_packet(pkt)


class Socket(Outbox, Dispatcher, SessionClock, AckTable, Compat03):
    """One Socket.IO session (a *virtual* socket).

    Args:
        server: the :class:`~socketio.server.SocketIOServer` (anything with a
            ``sockets`` dict will do; see :class:`~socketio.seams.SessionHost`).
        config: a :class:`~socketio.config.Config` or a dict of settings.
        error_handler: replaces :func:`default_error_handler`.
        sessid: the session id, when the caller has drawn one (the server
            does); by default a new one is drawn here.
    """

    GLOBAL_NS = ""

    # Every part's attributes are slots of SessionBase; ``__dict__`` keeps
    # any other attribute settable, as on the original.
    __slots__ = ("__dict__", "__weakref__")

    def __init__(
        self,
        server: SessionHost | Any,
        config: Any,
        error_handler: Optional[Callable[..., Any]] = None,
        *,
        sessid: Optional[str] = None,
    ) -> None:
        self.server = server
        self.config = Config.coerce(config)
        # One id per session: the server passes the one it drew (with a
        # session secret, each draw is an HMAC).
        self.sessid = (
            new_sessid(self.config.session_secret, time.time()) if sessid is None else sessid
        )
        self.session = {}
        self._client_queue = None
        # characters of the packets in client_queue (see put_client_msg)
        self._queued_bytes = 0
        self._received_bytes = 0  # of the packets in server_queue (see server_backlog)
        self._server_queue = None
        # wakes a receiver loop waiting while no server_queue exists yet (made
        # by the loop when it waits: a websocket's loop seldom does)
        self._arrival = None
        self.hits = 0
        self.heartbeats = 0
        self._timeout = None  # made when asked for
        #: set once the session has ended (killed): transports close then
        self.ended = gevent.event.Event()
        #: the greenlet running the application (a websocket's: its connection's)
        self.wsgi_app_greenlet = None
        self.state = _NEW
        self.connection_established = False
        self.ack_callbacks = {}
        self.ack_counter = 0
        self.request = None
        self.environ = None
        self.namespaces = {}
        self.active_ns = {}
        self.jobs = []
        self.error_handler = error_handler or default_error_handler
        self.json_loads = default_json_loads
        self.json_dumps = default_json_dumps
        #: name of the transport that opened the session (set by the handler)
        self.transport_name = None
        #: requests of this session being served right now (held polls count)
        self.active_requests = 0
        self.created = time.monotonic()
        self._last_activity = self.created
        #: the client is known to be gone (it left, or timed out): nothing to keep for it
        self._expired = False
        #: a kill for a slow consumer is on its way (one is enough)
        self._kill_pending = False
        #: set by a transport that writes packets straight to its connection
        self._output = None
        # transport greenlets waiting for a packet for the client (see put_volatile_msg)
        self._takers = 0
        #: volatile packets dropped because the client could not take them then
        self.volatile_dropped = 0
        #: the receiver loop is running: packets may be dispatched as they arrive
        self.serving = False
        #: set by a transport whose connection the receiver loop should read itself
        self._reader = None
        #: the greenlet handling a packet right now
        self.dispatching = None
        # orders the greenlets that wait to handle a packet while another one
        # is: made by the first of them (most sessions never have one)
        self._dispatch_lock = None
        self._dispatch_seq = 0
        # the session clock (see SessionClock)
        self._clock = None
        self._clock_due = 0.0
        self._clock_started = False
        self._next_beat = None
        # the opt-in rate limit (None: none) and the namespaces whose
        # authorize_connect refused this client (see Dispatcher)
        self._bucket = new_bucket(
            self.config.rate_limit, self.config.rate_limit_burst, self.created
        )
        self._refused = None

    # -- state --------------------------------------------------------------

    def __str__(self) -> str:
        return f"Socket {self.sessid} ({self.state})"

    def __repr__(self) -> str:
        return f"<Socket {self.sessid} {self.state} ns={sorted(self.active_ns)}>"

    def __getitem__(self, key: str) -> BaseNamespace:
        """The active namespace instance for endpoint ``key`` (``''`` is the global one)."""
        return self.active_ns[key]

    @property
    def connected(self) -> bool:
        """True while the session is established and not being torn down."""
        return self.state == _CONNECTED

    def enter(self, state: SessionState) -> bool:
        """Move the session to ``state`` if :data:`~socketio.state.TRANSITIONS` allows it.

        Returns whether it moved.
        """
        if can_move(self.state, state):
            self.state = state
            return True
        return False

    @property
    def manager(self) -> Optional[BaseManager]:
        """The server's room/broadcast manager, if the server has one."""
        return host_manager(self.server)

    def kill(self, detach: bool = False, *, reconnect: bool = False) -> None:
        """End the session.

        A connected socket moves to ``DISCONNECTING``, wakes its transports and
        receiver loop, and has every active namespace disconnected (their
        ``recv_disconnect`` runs). The state stays ``DISCONNECTING`` (nothing
        sets ``DISCONNECTED``, as in the original); ``ended`` (an event) is set once
        the session is over. A client still listening gets ``0::``, which
        a 0.9 client takes as "booted": it does not reconnect. With
        ``reconnect`` its connection is closed without that packet, so the
        client reconnects with a new handshake (what a server that stops for a
        restart wants). With ``detach`` it also leaves
        ``server.sockets``; without, it stays there until its client's next
        request (which gets what was left for it, the ``0::``) or for
        ``close_timeout`` seconds at most, and is never served as a live
        session again. Finally its greenlets are killed.
        """
        self.drop_acks()
        if self.connected:
            self.enter(_DISCONNECTING)
            self.serving = False
            self.server_queue.put_nowait(None)
            self.abort_dispatch()
            # Tell a client still listening that it was booted (it will not
            # reconnect), then wake the transport so it closes.
            if not reconnect:
                self.send_raw("0::")
            self.send_raw(None)
            if self.active_ns:
                self.disconnect(silent=True)
        elif self.state == _NEW:
            self.enter(_DISCONNECTING)
        if detach:
            self.detach()
        if self.state == _DISCONNECTING and not self.ended.is_set():
            self.stop_clock()
            if self._timeout is not None:
                self._timeout.set()
            self.ended.set()
            if not detach:
                gevent.spawn_later(self.config.close_timeout, self._detach_dead)
        current = gevent.getcurrent()
        jobs = [job for job in self.jobs if job is not current]
        self.jobs = [job for job in self.jobs if job is current]
        if jobs:
            gevent.killall(jobs, block=False)

    def _detach_dead(self) -> None:
        """Drop a socket killed without ``detach`` whose client did not come back."""
        self._expired = True  # nobody is there to be told anything
        self.detach()

    def client_left(self) -> None:
        """End the session its client ended (``0::`` or the forced-disconnect URL).

        Nothing is kept for the client afterwards: it is not listening.
        """
        self._expired = True
        self.kill(detach=True)

    def detach(self) -> None:
        """Remove the socket from ``server.sockets`` and from the manager."""
        sockets = getattr(self.server, "sockets", None)
        if sockets is not None and sockets.get(self.sessid) is self:
            del sockets[self.sessid]
            log.debug("%s detached", self)
            self._leave_farewell()
        manager = host_manager(self.server)
        if manager is not None:
            manager.remove_socket(self.sessid)

    def _leave_farewell(self) -> None:
        """Keep a polling session killed between two polls for its client's next GET.

        Nobody was there to take the ``0::`` the kill queued; without this the
        next GET would find no session and get ``7:::1+0``, on which the 0.9
        client handshakes again although it was booted. The server keeps it
        for ``close_timeout`` seconds (``keep_farewell``); the handler answers
        that GET with what is left in the queue.
        """
        keep = host_keep_farewell(self.server)
        if (
            keep is None
            or self.active_requests
            or self.transport_name not in POLLING_TRANSPORTS
            or not self.client_queue.qsize()
            or self._expired  # the client is gone: nothing to tell
        ):
            return
        keep(self)

    # -- sending ------------------------------------------------------------

    def error(
        self,
        error_name: str,
        error_message: str,
        endpoint: Optional[str] = None,
        msg_id: Optional[int] = None,
        quiet: bool = False,
    ) -> Any:
        """Report an error to the client through the error handler."""
        return self.error_handler(self, error_name, error_message, endpoint, msg_id, quiet)

    def send_packet(self, pkt: dict[str, Any]) -> None:
        """Encode a packet dict and queue it for the client.

        Raises:
            PacketError: the packet cannot be encoded (e.g. unserialisable args).
        """
        self.put_client_msg(packet.encode(pkt, self.json_dumps))

    def send_volatile_packet(self, pkt: dict[str, Any]) -> bool:
        """Encode a packet dict and send it only if the client can take it now.

        See :meth:`~socketio.outbox.Outbox.put_volatile_msg`; returns whether it went.
        """
        return self.put_volatile_msg(packet.encode(pkt, self.json_dumps))

    def disconnect(self, silent: bool = False) -> None:
        """Disconnect every active namespace, then end the socket.

        Unless ``silent``, the client is sent a ``disconnect`` packet for each.
        Each namespace's ``recv_disconnect`` runs, then the namespace is
        removed. The socket ends even when the application serves the global
        namespace (which keeps a socket open when one namespace is left): the
        client is sent ``0::`` and the socket leaves ``server.sockets``.
        """
        for ns_name, ns in list(self.active_ns.items()):
            if not silent:
                self.send_packet({"type": "disconnect", "endpoint": ns_name})
            try:
                ns.recv_disconnect()
            except Exception:
                log.exception("recv_disconnect of %r on %s failed", ns_name, self)
            if self.active_ns.get(ns_name) is ns:
                # The hook was overridden without calling disconnect(): finish it.
                ns.kill_local_jobs()
                self.remove_namespace(ns_name)
        if self.connected:
            # The global namespace, served but never instantiated, kept it open.
            self.kill(detach=True)

    def remove_namespace(self, namespace: str) -> None:
        """Drop an active namespace; dropping the last one kills and detaches the socket.

        While the application serves the global namespace (``''``), the client
        stays connected to it even before it is instantiated, so leaving another
        namespace does not end the socket.
        """
        if namespace in self.active_ns:
            del self.active_ns[namespace]
            manager = host_manager(self.server)
            if manager is not None:
                manager.remove_socket(self.sessid, namespace)
        if self.active_ns or not self.connected:
            return
        if namespace != self.GLOBAL_NS and self.GLOBAL_NS in self.namespaces:
            return
        self.kill(detach=True)

    def spawn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> gevent.Greenlet:
        """Run ``fn`` in a greenlet tied to the socket: it is killed with the socket."""
        log.debug("spawning socket job %s", getattr(fn, "__name__", fn))
        job = gevent.spawn(fn, *args, **kwargs)
        self.jobs.append(job)
        job.link(self._forget_job)
        return job

    def _forget_job(self, job: gevent.Greenlet) -> None:
        try:
            self.jobs.remove(job)
        except ValueError:
            pass
