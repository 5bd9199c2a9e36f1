"""The virtual socket: one Socket.IO session, whatever transport carries it.

A :class:`Socket` outlives the HTTP requests of the polling transports. It holds
the session dict, a queue of encoded packets for the client
(``client_queue``) and one of raw packets from the client (``server_queue``),
the ack table, the active namespace instances, and the greenlets that serve it:
the receiver loop (run by :func:`socketio.socketio_manage` in the
application's greenlet), and the session clock, a hub timer that sends
heartbeats and closes a silent session.

A websocket session takes a shorter path both ways: its transport attaches an
*output* that writes packets straight to the connection (no queue, no writer
greenlet), and offers a *reader*: the receiver loop, which then runs in the
connection's own greenlet, reads the connection and hands each packet to
:meth:`Socket._dispatch` as it arrives, while nothing is queued. Packets are
handled one at a time, in order, whichever greenlet handles them (the
dispatch lock).
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional, Protocol

import gevent
import gevent.event
import gevent.lock
import gevent.queue
from greenlet import getcurrent

from . import packet
from .config import HEARTBEAT_TRANSPORTS, POLLING_TRANSPORTS, Config
from .defaultjson import default_json_dumps, default_json_loads
from .exceptions import PacketError
from .fairness import pause
from .peerlog import CLIP, PeerLog
from .sessionid import new_sessid

if TYPE_CHECKING:  # pragma: no cover
    from .manager import BaseManager
    from .namespace import BaseNamespace

__all__ = ["DispatchAborted", "Socket", "default_error_handler", "new_sessid"]

log = logging.getLogger(__name__)

#: client mistakes answered with an error packet: one line per kind of error
#: every ten seconds, client text escaped and clipped
_error_log = PeerLog(log)
#: slow consumers: one line per second at most
_slow_log = PeerLog(log, interval=1.0, level=logging.WARNING)

#: packets the receiver loop handles back to back before it lets the other
#: greenlets run (a POST may carry thousands; see :func:`socketio.fairness.pause`)
BURST = 32

#: seconds during which a repeated application error (the same exception
#: type raised at the same line) is only counted, after its first traceback
_APP_ERROR_INTERVAL = 10.0
#: server -> {(type, file, line) -> [monotonic time of its last traceback, repeats left out]}
_app_errors: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], list]] = (
    weakref.WeakKeyDictionary()
)


class DispatchAborted(gevent.GreenletExit):
    """Raised in a handler that was still running when its socket was killed.

    The greenlet that ran it (a connection's, or the application's) lives on;
    only the handling of that packet ends, as the original library's receiver
    loop greenlet ended with the socket.
    """

    def __init__(self, message: str = "the socket was killed", *args: object) -> None:
        super().__init__(message, *args)
        self.message = message


class Output(Protocol):
    """Where a transport that writes directly takes the socket's packets.

    ``write(None)`` means the session ended: close the connection.
    """

    @property
    def backlog(self) -> int:
        """Packets accepted but not yet written (a slow consumer has many)."""

    def write(self, msg: Optional[str]) -> None:
        """Write one encoded packet without blocking, in order."""


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
    _error_log(
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


def _shorten(text: str) -> str:
    """Client text sent back in an error message: at most :data:`~socketio.peerlog.CLIP`
    characters of it (JSON escapes the rest of what it holds)."""
    if len(text) <= CLIP:
        return text
    return f"{text[:CLIP]}...(+{len(text) - CLIP})"


def _log_app_error(socket: Socket, rawdata: str, exc: BaseException) -> None:
    """Log an error of the application (a handler raised) with its traceback.

    The same error (type and line) repeated within ten seconds is only
    counted, and the count is said with its next traceback: a client that
    found a way to make a handler fail cannot fill the log with it. (Counted
    per server: each test's server starts afresh.)
    """
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    site = (tb.tb_frame.f_code.co_filename, tb.tb_lineno) if tb is not None else ("", 0)
    key = (type(exc), *site)
    try:
        seen = _app_errors.setdefault(socket.server, {})
    except TypeError:  # a server that cannot be weakly referenced: no counting
        seen = {}
    now = time.monotonic()
    entry = seen.get(key)
    if entry is not None and now - entry[0] < _APP_ERROR_INTERVAL:
        entry[1] += 1
        return
    left_out = entry[1] if entry is not None else 0
    if entry is None and len(seen) >= 256:
        seen.clear()
    seen[key] = [now, 0]
    more = f" ({left_out} more like it not logged)" if left_out else ""
    log.error(
        "%s: unhandled error while processing %r%s",
        socket,
        rawdata[:60],
        more,
        exc_info=(type(exc), exc, exc.__traceback__),
    )


class Socket:
    """One Socket.IO session (a *virtual* socket).

    Args:
        server: the :class:`~socketio.server.SocketIOServer` (anything with a
            ``sockets`` dict will do).
        config: a :class:`~socketio.config.Config` or a dict of settings.
        error_handler: replaces :func:`default_error_handler`.
    """

    STATE_CONNECTING = "CONNECTING"
    STATE_CONNECTED = "CONNECTED"
    STATE_DISCONNECTING = "DISCONNECTING"
    STATE_DISCONNECTED = "DISCONNECTED"

    GLOBAL_NS = ""

    # The attributes set here live in slots: a session's dict of some forty
    # entries costs 1.6 KiB, past what CPython shares between instances.
    # ``__dict__`` keeps any other attribute settable, as on the original.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_arrival",
        "_client_queue",
        "_clock",
        "_clock_due",
        "_clock_started",
        "_dispatch_lock",
        "_dispatch_seq",
        "_dispatcher",
        "_expired",
        "_last_activity",
        "_next_beat",
        "_output",
        "_queued_bytes",
        "_reader",
        "_received_bytes",
        "_server_queue",
        "_serving",
        "_timeout",
        "ack_callbacks",
        "ack_counter",
        "active_ns",
        "active_requests",
        "config",
        "connection_established",
        "created",
        "ended",
        "environ",
        "error_handler",
        "heartbeats",
        "hits",
        "jobs",
        "json_dumps",
        "json_loads",
        "namespaces",
        "request",
        "server",
        "sessid",
        "session",
        "state",
        "transport_name",
        "wsgi_app_greenlet",
    )

    json_loads: Callable[[str], Any]
    json_dumps: Callable[[Any], str]

    def __init__(self, server: Any, config: Any, error_handler: Optional[Callable] = None) -> None:
        self.server = server
        self.config: Config = Config.coerce(config)
        self.sessid = new_sessid(self.config.session_secret, time.time())
        self.session: dict[str, Any] = {}
        self._client_queue: Optional[gevent.queue.Queue] = None
        # characters of the packets in client_queue (see put_client_msg)
        self._queued_bytes = 0
        self._received_bytes = 0  # of the packets in server_queue (see server_backlog)
        self._server_queue: Optional[gevent.queue.Queue] = None
        # wakes a receiver loop waiting while no server_queue exists yet (made
        # by the loop when it waits: a websocket's loop seldom does)
        self._arrival: Optional[gevent.event.Event] = None
        self.hits = 0
        self.heartbeats = 0
        self._timeout: Optional[gevent.event.Event] = None  # made when asked for
        #: set once the session has ended (killed): transports close then
        self.ended = gevent.event.Event()
        #: the greenlet running the application (a websocket's: its connection's)
        self.wsgi_app_greenlet: Optional[gevent.Greenlet] = None
        self.state = "NEW"
        self.connection_established = False
        self.ack_callbacks: dict[int, Callable[..., Any]] = {}
        self.ack_counter = 0
        self.request: Any = None
        self.environ: Optional[dict] = None
        self.namespaces: dict[str, type[BaseNamespace]] = {}
        self.active_ns: dict[str, BaseNamespace] = {}
        self.jobs: list[gevent.Greenlet] = []
        self.error_handler: Callable[..., Any] = error_handler or default_error_handler
        self.json_loads = default_json_loads
        self.json_dumps = default_json_dumps
        #: name of the transport that opened the session (set by the handler)
        self.transport_name: Optional[str] = None
        #: requests of this session being served right now (held polls count)
        self.active_requests = 0
        self.created = time.monotonic()
        self._last_activity = self.created
        #: the client is known to be gone (it left, or timed out): nothing to keep for it
        self._expired = False
        #: set by a transport that writes packets straight to its connection
        self._output: Optional[Output] = None
        #: the receiver loop is running: packets may be dispatched as they arrive
        self._serving = False
        #: set by a transport whose connection the receiver loop should read itself
        self._reader: Optional[Callable[[], None]] = None
        self._dispatcher: Any = None  # the greenlet handling a packet right now
        # orders the greenlets that wait to handle a packet while another one
        # is: made by the first of them (most sessions never have one)
        self._dispatch_lock: Optional[gevent.lock.Semaphore] = None
        self._dispatch_seq = 0
        # the session clock (see _start_clock)
        self._clock: Any = None
        self._clock_due = 0.0
        self._clock_started = False
        self._next_beat: Optional[float] = None

    @property
    def client_queue(self) -> gevent.queue.Queue:
        """Encoded packets waiting for the client (made on first use).

        A websocket session writes its packets straight to its connection and
        never needs one.
        """
        queue = self._client_queue
        if queue is None:
            queue = self._client_queue = gevent.queue.Queue()
        return queue

    @client_queue.setter
    def client_queue(self, queue: gevent.queue.Queue) -> None:
        self._client_queue = queue

    @property
    def server_queue(self) -> gevent.queue.Queue:
        """Raw packets from the client waiting for the receiver loop (made on first use).

        A websocket session whose handlers do not wait handles its packets as
        they are read and never needs one.
        """
        queue = self._server_queue
        if queue is None:
            queue = self.server_queue = gevent.queue.Queue()
        return queue

    @server_queue.setter
    def server_queue(self, queue: gevent.queue.Queue) -> None:
        self._server_queue = queue
        if self._arrival is not None:
            self._arrival.set()

    # -- setters used by socketio_manage -------------------------------------

    def _set_namespaces(self, namespaces: dict[str, type[BaseNamespace]]) -> None:
        self.namespaces = namespaces

    def _set_request(self, request: Any) -> None:
        self.request = request

    def _set_environ(self, environ: dict) -> None:
        self.environ = environ

    def _set_error_handler(self, error_handler: Callable[..., Any]) -> None:
        self.error_handler = error_handler

    def _set_json_loads(self, json_loads: Callable[[str], Any]) -> None:
        self.json_loads = json_loads

    def _set_json_dumps(self, json_dumps: Callable[[Any], str]) -> None:
        self.json_dumps = json_dumps

    # -- acks ---------------------------------------------------------------

    def _get_next_msgid(self) -> int:
        self.ack_counter += 1
        return self.ack_counter

    def _save_ack_callback(self, msgid: int, callback: Callable[..., Any]) -> bool:
        if msgid in self.ack_callbacks:
            return False
        self.ack_callbacks[msgid] = callback
        return True

    def _pop_ack_callback(self, msgid: int) -> Optional[Callable[..., Any]]:
        return self.ack_callbacks.pop(msgid, None)

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
        return self.state == self.STATE_CONNECTED

    @property
    def manager(self) -> Optional[BaseManager]:
        """The server's room/broadcast manager, if the server has one."""
        return getattr(self.server, "manager", None)

    @property
    def timeout(self) -> gevent.event.Event:
        """Set when the session ends (kept for code written for the original's watcher).

        Made when first asked for (few sessions are): an event is 144 bytes.
        """
        event = self._timeout
        if event is None:
            event = self._timeout = gevent.event.Event()
            if self.ended.is_set():
                event.set()
        return event

    @timeout.setter
    def timeout(self, event: gevent.event.Event) -> None:
        self._timeout = event

    def incr_hits(self) -> None:
        """Count a transport request; the first one makes the socket connected.

        A request is activity: the watcher starts its wait again, with the
        time limit of the new state (``heartbeat_timeout`` once a websocket or
        stream is open, not the ``close_timeout`` of a handshaken session).
        """
        self.hits += 1
        if self.hits == 1:
            self.state = self.STATE_CONNECTED
        self._last_activity = time.monotonic()
        if self._clock_started:
            self._rearm()  # the limit may have shrunk

    def heartbeat(self) -> None:
        """Record activity from the client: its time limit starts again.

        Called for every packet, so it only notes the time; the session clock reads it
        when it fires (nothing is rearmed per packet).
        """
        self.heartbeats += 1
        self._last_activity = time.monotonic()

    def kill(self, detach: bool = False, *, reconnect: bool = False) -> None:
        """End the session.

        A connected socket moves to ``DISCONNECTING``, wakes its transports and
        receiver loop, and has every active namespace disconnected (their
        ``recv_disconnect`` runs). The state stays ``DISCONNECTING`` (nothing
        sets ``DISCONNECTED``, as in the original); :attr:`ended` is set once
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
        self.ack_callbacks = {}
        if self.connected:
            self.state = self.STATE_DISCONNECTING
            self._serving = False
            self.server_queue.put_nowait(None)
            self._abort_dispatch()
            # Tell a client still listening that it was booted (it will not
            # reconnect), then wake the transport so it closes.
            if not reconnect:
                self._to_client("0::")
            self._to_client(None)
            if self.active_ns:
                self.disconnect(silent=True)
        elif self.state == "NEW":
            self.state = self.STATE_DISCONNECTING
        if detach:
            self.detach()
        if self.state == self.STATE_DISCONNECTING and not self.ended.is_set():
            self._stop_clock()
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

    def _client_left(self) -> None:
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
        manager = self.manager
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
        keep = getattr(self.server, "keep_farewell", None)
        if (
            keep is None
            or self.active_requests
            or self.transport_name not in POLLING_TRANSPORTS
            or not self.client_queue.qsize()
            or self._expired  # the client is gone: nothing to tell
        ):
            return
        keep(self)

    # -- queues -------------------------------------------------------------

    def put_server_msg(self, msg: Optional[str]) -> None:
        """Queue a raw packet that arrived from the client (for the receiver loop)."""
        self.heartbeat()
        queue = self.server_queue
        if msg:
            self._received_bytes = len(msg) + (self._received_bytes if queue.qsize() else 0)
        queue.put_nowait(msg)

    @property
    def server_backlog(self) -> tuple[int, int]:
        """``(packets, characters)`` from the client waiting for the receiver loop.

        A transport reading faster than the handlers take packets waits while
        this is over ``max_queue_size`` or ``max_queue_bytes`` (the client is
        held back by TCP, or by its next POST's answer coming later).
        """
        queue = self._server_queue
        waiting = queue.qsize() if queue is not None else 0
        return waiting, self._received_bytes if waiting else 0

    def put_client_msg(self, msg: Optional[str]) -> None:
        """Queue an encoded packet for the client.

        A client that lets more than ``config.max_queue_size`` packets, or
        more than ``config.max_queue_bytes`` of them, pile up is a slow
        consumer: it is disconnected (the packet is dropped), so it cannot
        grow the server's memory without bound. (Bytes are counted as
        characters of the encoded packets; one packet alone may be larger
        than the limit.)
        """
        if msg is None:
            self._to_client(None)
            return
        config = self.config
        output = self._output
        if output is None:
            queue = self.client_queue
            waiting = queue.qsize()
            if not waiting:
                self._queued_bytes = len(msg)
                queue.put_nowait(msg)
                return
            queued = self._queued_bytes + len(msg)
            if waiting < config.max_queue_size and queued <= config.max_queue_bytes:
                self._queued_bytes = queued
                queue.put_nowait(msg)
                return
        else:
            waiting = output.backlog
            if not waiting:
                output.write(msg)
                return
            backlog_bytes = getattr(output, "backlog_bytes", None)  # if it counts them
            if waiting < config.max_queue_size and (
                backlog_bytes is None or backlog_bytes + len(msg) <= config.max_queue_bytes
            ):
                output.write(msg)
                return
            queued = (backlog_bytes or 0) + len(msg)
        self._slow_consumer(waiting, queued - len(msg))

    def _slow_consumer(self, packets: int, size: int) -> None:
        if self.state not in (self.STATE_DISCONNECTING, self.STATE_DISCONNECTED):
            _slow_log(
                "slow-consumer",
                "%s: slow consumer, %d packets (%d bytes) queued; disconnecting it",
                self,
                packets,
                size,
            )
            gevent.spawn(self.kill, detach=True)

    def _to_client(self, msg: Optional[str]) -> None:
        """Queue or write ``msg`` for the client, whatever is already waiting."""
        output = self._output
        if output is not None:
            output.write(msg)
        else:
            self.client_queue.put_nowait(msg)

    def _attach_output(self, output: Output) -> None:
        """Write packets straight to ``output`` from now on, after what is queued."""
        queued = []
        queue = self._client_queue
        while queue is not None and queue.qsize():
            queued.append(queue.get_nowait())
        self._queued_bytes = 0
        self._output = output
        for msg in queued:
            output.write(msg)

    def get_client_msg(self, **kwargs: Any) -> Optional[str]:
        """Take the next packet for the client (``block``/``timeout`` as ``Queue.get``)."""
        msg = self.client_queue.get(**kwargs)
        if msg:
            self._queued_bytes -= len(msg)
        return msg

    def get_server_msg(self, **kwargs: Any) -> Optional[str]:
        """Take the next raw packet from the client (``block``/``timeout`` as ``Queue.get``)."""
        msg = self.server_queue.get(**kwargs)
        if msg:
            self._received_bytes -= len(msg)
        return msg

    def get_multiple_client_msgs(self, **kwargs: Any) -> list[Optional[str]]:
        """Wait for one packet for the client (as :meth:`get_client_msg`), then take all queued."""
        queue = self.client_queue
        msgs = [queue.get(**kwargs)]
        while queue.qsize():
            msgs.append(queue.get_nowait())
        self._queued_bytes = 0
        return msgs

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
            manager = self.manager
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

    # -- the receiver loop --------------------------------------------------

    def _get_namespace(self, endpoint: str) -> BaseNamespace:
        ns = self.active_ns.get(endpoint)
        if ns is not None:
            return ns
        environ = self.environ if self.environ is not None else {"socketio": self}
        ns = self.namespaces[endpoint](environ, endpoint, request=self.request)
        # Like the original: initialize() of every class in the MRO that
        # defines one, in MRO order, so mixins can set themselves up without
        # cooperating super() calls.
        for cls in type(ns).__mro__:
            init = cls.__dict__.get("initialize")
            if init is not None:
                init(ns)
        self.active_ns[endpoint] = ns
        manager = self.manager
        if manager is not None:
            manager.add_socket(self.sessid, endpoint)
        return ns

    def _receiver_loop(self) -> None:
        """Dispatch the client's packets until the socket ends.

        When the transport offers it (a websocket), packets are first read
        from the connection and handled here; then, or else, they are taken
        from ``server_queue``, in order. After :data:`BURST` packets handled
        back to back the loop lets the other greenlets run before it goes on
        (a polling client may post thousands of packets at once).
        """
        ended = (self.STATE_DISCONNECTING, self.STATE_DISCONNECTED)
        self._serving = self.state not in ended
        try:
            reader = self._reader
            if reader is not None and self._serving:
                self._reader = None
                reader()
            burst = 0
            while True:
                queue = self._server_queue
                if queue is None:
                    # Nothing was ever queued: wait without making a queue.
                    if self._arrival is None:
                        self._arrival = gevent.event.Event()
                    self._arrival.wait()
                    continue
                if not queue.qsize():
                    burst = 0  # the get waits: the others run meanwhile
                elif burst < BURST:
                    burst += 1
                else:
                    burst = 0
                    pause()
                    continue
                rawdata = self.get_server_msg()
                if rawdata is None:
                    if self.connected:
                        continue
                    break
                if self.state in ended:
                    break
                if rawdata:
                    self._dispatch(rawdata)
                # Nothing of the packet stays while the loop waits for the
                # next one: an idle session holds no more than a new one.
                rawdata = None
                if not self.connected and self.state != "NEW":
                    break
        finally:
            self._serving = False

    def _can_dispatch_now(self) -> bool:
        """True if a packet that just arrived may be dispatched at once by its reader.

        That is: the receiver loop runs (the application has given its
        namespaces), nothing is queued before it and no packet is being handled.
        """
        queue = self._server_queue
        lock = self._dispatch_lock
        return (
            self._serving
            and (queue is None or not queue.qsize())
            and self._dispatcher is None
            and (lock is None or not lock.locked())
        )

    def _dispatch(self, rawdata: str) -> None:
        """Handle one raw packet in the calling greenlet, after any packet being handled.

        Errors of the application are logged, not raised; a handler still
        running when the socket is killed ends with :class:`DispatchAborted`.
        """
        lock = self._dispatch_lock
        if lock is None and self._dispatcher is None:  # nobody else handles one: no lock
            try:
                self._dispatch_now(rawdata)
            finally:
                # a greenlet came to wait meanwhile, and made the lock held for us
                if self._dispatch_lock is not None:
                    self._dispatch_lock.release()
            return
        if lock is None:  # the first to wait: the one handling a packet holds it
            lock = self._dispatch_lock = gevent.lock.Semaphore(0)
        with lock:
            self._dispatch_now(rawdata)

    def _dispatch_now(self, rawdata: str) -> None:
        self._dispatcher = getcurrent()
        self._dispatch_seq += 1
        try:
            self._process_raw(rawdata)
        except DispatchAborted:
            log.debug("%s: handling of %r aborted: the socket was killed", self, rawdata[:60])
        except gevent.GreenletExit:
            raise
        except Exception as exc:
            _log_app_error(self, rawdata, exc)
        finally:
            self._dispatcher = None

    def _abort_dispatch(self) -> None:
        """End a handler that another greenlet is running (the socket is being killed).

        The exception is thrown from the hub only if that same dispatch is
        still going on by then, so it never lands in the greenlet's next task.
        """
        dispatcher = self._dispatcher
        if dispatcher is None or dispatcher is getcurrent():
            return
        seq = self._dispatch_seq

        def abort() -> None:
            if self._dispatcher is dispatcher and self._dispatch_seq == seq:
                dispatcher.throw(DispatchAborted)

        gevent.get_hub().loop.run_callback(abort)

    def _process_raw(self, rawdata: str) -> None:
        try:
            pkt = packet.decode(rawdata, self.json_loads)
        except PacketError as exc:
            self.error(
                "invalid_packet",
                f"There was a decoding error when dealing with packet "
                f"with event: {rawdata[:20]}... ({_shorten(exc.message)})",
            )
            return
        ptype = pkt["type"]
        endpoint = pkt["endpoint"]
        if ptype in ("heartbeat", "noop"):
            return  # put_server_msg already counted it as activity
        if ptype == "disconnect" and endpoint == "":
            self._client_left()
            return
        if endpoint not in self.namespaces:
            # (an endpoint too long to be anyone's namespace is not sent back)
            self.error(
                "no_such_namespace",
                f"The endpoint you tried to connect to doesn't exist: {_shorten(endpoint)}",
                endpoint=endpoint if len(endpoint) <= CLIP else "",
            )
            return
        if ptype == "disconnect" and endpoint not in self.active_ns:
            return  # leaving a namespace never entered: nothing to do
        if pkt.get("id") and pkt.get("ack") is True:
            # A plain id asks for an automatic ack, before the handler runs.
            self.send_packet({"type": "ack", "ackId": pkt["id"], "endpoint": endpoint})
        ns = self._get_namespace(endpoint)
        retval = ns.process_packet(pkt)
        if pkt.get("ack") == "data" and pkt.get("id"):
            args = list(retval) if isinstance(retval, tuple) else [retval]
            self.send_packet(
                {"type": "ack", "ackId": pkt["id"], "args": args, "endpoint": endpoint}
            )

    def _spawn_receiver_loop(self) -> gevent.Greenlet:
        job = gevent.spawn(self._receiver_loop)
        self.jobs.append(job)
        return job

    # -- timers -------------------------------------------------------------
    #
    # One hub timer per socket (no greenlet) expires a silent session and sends
    # the heartbeats: it fires at the earlier of the two due times and works
    # out, from the time of the last activity, what is really due then.

    def _start_clock(self) -> None:
        """Expire the session when its client stays silent or away too long.

        The limit is ``close_timeout`` until the first transport request, then
        ``heartbeat_timeout`` for websockets and streams (only packets from the
        client count there: an open connection proves nothing) and
        ``close_timeout`` for polling (a held poll counts as presence).
        """
        if not self._clock_started:
            self._clock_started = True
            self._rearm()

    def _start_heartbeats(self) -> None:
        """Send ``2::`` every ``heartbeat_interval`` seconds while connected."""
        self._clock_started = True
        self._next_beat = time.monotonic() + self.config.heartbeat_interval
        self._rearm()

    def _due(self) -> float:
        due = self._last_activity + self._time_limit()
        beat = self._next_beat
        return due if beat is None or beat > due else beat

    def _rearm(self) -> None:
        if self.state not in ("NEW", self.STATE_CONNECTED):
            return
        due = self._due()
        clock = self._clock
        if clock is not None:
            if clock.active and self._clock_due <= due:
                return  # it fires early enough, and works out the rest then
            clock.stop()
        self._clock_due = due
        self._clock = clock = gevent.get_hub().loop.timer(max(0.0, due - time.monotonic()))
        clock.start(self._tick)

    def _stop_clock(self) -> None:
        if self._clock is not None:
            self._clock.stop()
            self._clock = None

    def _tick(self) -> None:
        # Runs in the hub: nothing here may block.
        self._clock = None
        if self.state not in ("NEW", self.STATE_CONNECTED):
            return
        try:
            now = time.monotonic()
            beat = self._next_beat
            if beat is not None and beat <= now:
                self._next_beat = now + self.config.heartbeat_interval
                if self.connected:
                    self.put_client_msg("2::")
            if self._last_activity + self._time_limit() <= now:
                if (
                    self.active_requests
                    and self.state != "NEW"
                    and self.transport_name not in HEARTBEAT_TRANSPORTS
                ):
                    self._last_activity = now  # a long-poll is being held: the client is there
                else:
                    log.info("%s timed out (no activity for %ss)", self, self._time_limit())
                    self._expired = True
                    gevent.spawn(self.kill, detach=True)
                    return
            self._rearm()
        except Exception:
            log.exception("%s: the session clock failed", self)

    def _time_limit(self) -> float:
        if self.state == "NEW":
            return self.config.close_timeout
        if self.transport_name in HEARTBEAT_TRANSPORTS:
            return self.config.heartbeat_timeout
        return self.config.close_timeout

    def _spawn_heartbeat(self) -> gevent.Greenlet:
        """Start the heartbeats (see :meth:`_start_heartbeats`).

        Returns a job that lives as long as the socket, for code that expects
        the heartbeat greenlet of the original library.
        """
        self._start_heartbeats()
        return self.spawn(self.ended.wait)

    def _spawn_watcher(self) -> gevent.Greenlet:
        """Start expiring the socket (see :meth:`_start_clock`).

        Returns a job that lives as long as the socket, for code that expects
        the watcher greenlet of the original library.
        """
        self._start_clock()
        return self.spawn(self.ended.wait)
