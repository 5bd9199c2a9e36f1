"""Handling the client's packets: one at a time, in order, whichever greenlet reads them.

The *receiver loop* (:meth:`Dispatcher.receiver_loop`) runs in the
application's greenlet (:func:`socketio.socketio_manage` calls it) until the
session ends. It takes packets from the session's incoming queue, or, when
the transport offers a *reader* (a websocket), first lets it read the
connection and hand each packet to :meth:`Dispatcher.dispatch` as it
arrives. The *dispatch lock* orders the greenlets that handle packets; a
handler still running when the session is killed is aborted with
:class:`DispatchAborted`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional, Protocol

import gevent
import gevent.event
import gevent.lock
from greenlet import getcurrent

from . import packet
from .exceptions import PacketError
from .fairness import pause
from .peerlog import CLIP
from .ratelimit import TokenBucket
from .seams import host_manager, session_logs
from .session_base import SessionBase
from .state import ENDED, SessionState

if TYPE_CHECKING:  # pragma: no cover
    from .namespace import BaseNamespace

__all__ = ["BURST", "DispatchAborted", "DispatchObserver", "Dispatcher"]

log = logging.getLogger("socketio.virtsocket")  # (the lines keep the logger they always had)

#: packets the receiver loop handles back to back before it lets the other
#: greenlets run (a POST may carry thousands; see :func:`socketio.fairness.pause`)
BURST = 32

#: seconds during which a repeated application error (the same exception
#: type raised at the same line) is only counted, after its first traceback
APP_ERROR_INTERVAL = 10.0

_NEW = SessionState.NEW

#: the first character of the packets a rate limit counts: connect, message,
#: json, event (the ones that run the application's handlers; a namespace
#: disconnect follows a connect, an ack answers the server's own emit)
_COUNTED = frozenset("1345")


class DispatchAborted(gevent.GreenletExit):
    """Raised in a handler that was still running when its socket was killed.

    The greenlet that ran it (a connection's, or the application's) lives on;
    only the handling of that packet ends, as the original library's receiver
    loop greenlet ended with the socket.
    """

    def __init__(self, message: str = "the socket was killed", *args: object) -> None:
        super().__init__(message, *args)
        self.message = message


class DispatchObserver(Protocol):
    """Told what a session's dispatcher does (the test client waits on it)."""

    def receiver_started(self) -> None:
        """The receiver loop started, in the current greenlet."""

    def receiver_stopped(self) -> None:
        """The receiver loop returned."""

    def packet_handled(self, error: Optional[BaseException]) -> None:
        """A packet was handled; ``error`` is what the application raised, if anything."""


def shorten(text: str) -> str:
    """Client text sent back in an error message, clipped.

    At most :data:`~socketio.peerlog.CLIP` characters of it (JSON escapes the
    rest of what it holds).
    """
    if len(text) <= CLIP:
        return text
    return f"{text[:CLIP]}...(+{len(text) - CLIP})"


def log_app_error(session: SessionBase, rawdata: str, exc: BaseException) -> None:
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
    seen = session_logs(session.server).app_errors
    now = time.monotonic()
    entry = seen.get(key)
    if entry is not None and now - entry[0] < APP_ERROR_INTERVAL:
        entry[1] += 1
        return
    left_out = entry[1] if entry is not None else 0
    if entry is None and len(seen) >= 256:
        seen.clear()
    seen[key] = [now, 0]
    more = f" ({left_out} more like it not logged)" if left_out else ""
    log.error(
        "%s: unhandled error while processing %r%s",
        session,
        rawdata[:60],
        more,
        exc_info=(type(exc), exc, exc.__traceback__),
    )


class Dispatcher(SessionBase):
    """The packet handling of a :class:`~socketio.virtsocket.Socket` (one of its parts).

    A part, not a separate object: its state lives in the session's slots,
    and a websocket's packet goes from the read to the namespace's handler
    without an extra call (see ``benchmarks/RESULTS.md``, instructions per
    message).
    """

    __slots__ = ()

    #: told of every packet handled (``None``: nobody; the test client sets one)
    observer: Optional[DispatchObserver] = None

    serving: bool
    dispatching: Any
    _reader: Optional[Callable[[], None]]
    _dispatch_lock: Optional[gevent.lock.Semaphore]
    _dispatch_seq: int
    _server_queue: Any
    _arrival: Optional[gevent.event.Event]

    def set_reader(self, reader: Optional[Callable[[], None]]) -> None:
        """Have the receiver loop call ``reader`` first (``None``: withdraw it).

        A websocket transport offers one: it reads the connection and hands
        each packet to :meth:`dispatch` while :meth:`can_dispatch_now`.
        """
        self._reader = reader

    @property
    def reader(self) -> Optional[Callable[[], None]]:
        """The reader offered by :meth:`set_reader` and not yet taken by the receiver loop."""
        return self._reader

    def receiver_loop(self) -> None:
        """Dispatch the client's packets until the session ends.

        When the transport offers it (a websocket), packets are first read
        from the connection and handled here; then, or else, they are taken
        from ``server_queue``, in order. After :data:`BURST` packets handled
        back to back the loop lets the other greenlets run before it goes on
        (a polling client may post thousands of packets at once).
        """
        observer = self.observer
        if observer is not None:
            observer.receiver_started()
        self.serving = self.state not in ENDED
        try:
            reader = self._reader
            if reader is not None and self.serving:
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
                if self.state in ENDED:
                    break
                if rawdata:
                    self.dispatch(rawdata)
                # Nothing of the packet stays while the loop waits for the
                # next one: an idle session holds no more than a new one.
                rawdata = None
                if not self.connected and self.state != _NEW:
                    break
        finally:
            self.serving = False
            if observer is not None:
                observer.receiver_stopped()

    def spawn_receiver_loop(self) -> gevent.Greenlet:
        """Run :meth:`receiver_loop` in a greenlet of its own, tied to the session."""
        job = gevent.spawn(self.receiver_loop)
        self.jobs.append(job)
        return job

    def can_dispatch_now(self) -> bool:
        """True if a packet that just arrived may be dispatched at once by its reader.

        That is: the receiver loop runs (the application has given its
        namespaces), nothing is queued before it and no packet is being handled.
        """
        queue = self._server_queue
        lock = self._dispatch_lock
        return (
            self.serving
            and (queue is None or not queue.qsize())
            and self.dispatching is None
            and (lock is None or not lock.locked())
        )

    def dispatch(self, rawdata: str) -> None:
        """Handle one raw packet in the calling greenlet, after any packet being handled.

        Errors of the application are logged, not raised; a handler still
        running when the session is killed ends with :class:`DispatchAborted`.
        """
        lock = self._dispatch_lock
        if lock is None and self.dispatching is None:  # nobody else handles one: no lock
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
        self.dispatching = getcurrent()
        self._dispatch_seq += 1
        error: Optional[BaseException] = None
        try:
            self.handle_packet(rawdata)
        except DispatchAborted:
            log.debug("%s: handling of %r aborted: the socket was killed", self, rawdata[:60])
        except gevent.GreenletExit:
            raise
        except Exception as exc:
            error = exc
            log_app_error(self, rawdata, exc)
        finally:
            self.dispatching = None
            # (a class attribute unless a test client set one: one look per packet)
            observer = self.observer
            if observer is not None:
                observer.packet_handled(error)

    def abort_dispatch(self) -> None:
        """End a handler that another greenlet is running (the session is being killed).

        The exception is thrown from the hub only if that same dispatch is
        still going on by then, so it never lands in the greenlet's next task.
        """
        dispatching = self.dispatching
        if dispatching is None or dispatching is getcurrent():
            return
        seq = self._dispatch_seq

        def abort() -> None:
            if self.dispatching is dispatching and self._dispatch_seq == seq:
                dispatching.throw(DispatchAborted)

        gevent.get_hub().loop.run_callback(abort)

    def handle_packet(self, rawdata: str) -> None:
        """Decode one raw packet and hand it to its namespace (no lock: see :meth:`dispatch`).

        With a rate limit (``Config.rate_limit``), a packet past it that
        would reach a handler is dropped here, before it is even decoded.
        """
        bucket = self._bucket
        if bucket is not None and rawdata[:1] in _COUNTED and not bucket.take(self._last_activity):
            self._over_limit(bucket, rawdata)
            return
        try:
            pkt = packet.decode(rawdata, self.json_loads)
        except PacketError as exc:
            self.error(
                "invalid_packet",
                f"There was a decoding error when dealing with packet "
                f"with event: {rawdata[:20]}... ({shorten(exc.message)})",
            )
            return
        ptype = pkt["type"]
        endpoint = pkt["endpoint"]
        if ptype in ("heartbeat", "noop"):
            return  # put_server_msg already counted it as activity
        if ptype == "disconnect" and endpoint == "":
            self.client_left()
            return
        if endpoint not in self.namespaces:
            # (an endpoint too long to be anyone's namespace is not sent back)
            self.error(
                "no_such_namespace",
                f"The endpoint you tried to connect to doesn't exist: {shorten(endpoint)}",
                endpoint=endpoint if len(endpoint) <= CLIP else "",
            )
            return
        ns = self.active_ns.get(endpoint)
        if ns is None:
            if ptype == "disconnect":
                return  # leaving a namespace never entered: nothing to do
            # Entering a namespace (once per namespace and socket, off the
            # per-packet path): its opt-in authorization comes first.
            if not self._may_enter(endpoint, pkt):
                return
        if pkt.get("id") and pkt.get("ack") is True:
            # A plain id asks for an automatic ack, before the handler runs.
            self.send_packet({"type": "ack", "ackId": pkt["id"], "endpoint": endpoint})
        if ns is None:
            ns = self.get_namespace(endpoint)
        retval = ns.process_packet(pkt)
        if pkt.get("ack") == "data" and pkt.get("id"):
            args = list(retval) if isinstance(retval, tuple) else [retval]
            self.send_packet(
                {"type": "ack", "ackId": pkt["id"], "args": args, "endpoint": endpoint}
            )

    @property
    def rate_limited(self) -> int:
        """Packets of this session dropped by its rate limit so far (0 without a limit).

        See ``Config.rate_limit``; read by metrics.
        """
        bucket = self._bucket
        return 0 if bucket is None else bucket.denied

    def _over_limit(self, bucket: TokenBucket, rawdata: str) -> None:
        """A packet past the rate limit was dropped: log once, tell the client now and then.

        A session over its limit for ``Config.rate_limit_grace`` seconds is
        disconnected, once.
        """
        now = self._last_activity
        burst = int(bucket.burst)
        if not bucket.logged:
            bucket.logged = True
            session_logs(self.server).rate_limits(
                "rate-limited",
                "%s: past its rate limit (%g packets/s, %d at once): its excess is dropped",
                self,
                bucket.rate,
                burst,
            )
        grace = self.config.rate_limit_grace
        if grace is not None and bucket.over_for(now) >= grace:
            if self._kill_pending or self.state in ENDED:
                return
            self._kill_pending = True
            session_logs(self.server).rate_limits(
                "rate-limit-grace", "%s: past its rate limit for %gs: disconnecting it", self, grace
            )
            self.error(
                "rate_limited",
                f"Too many packets for {grace:g}s (at most {bucket.rate:g} per second): "
                f"disconnected",
                endpoint=self._endpoint_of(rawdata),
            )
            gevent.spawn(self.kill, detach=True)
            return
        if bucket.notice_due(now):
            dropped = bucket.denied_since_notice
            bucket.denied_since_notice = 0
            self.error(
                "rate_limited",
                f"Too many packets: at most {bucket.rate:g} per second ({burst} at once); "
                f"{dropped} dropped",
                endpoint=self._endpoint_of(rawdata),
            )

    def _endpoint_of(self, rawdata: str) -> str:
        """The namespace a raw packet is for, if the application has it (else the global one)."""
        parts = rawdata.split(":", 3)
        endpoint = parts[2].split("?", 1)[0] if len(parts) > 2 else ""
        return endpoint if endpoint in self.namespaces else ""

    def _may_enter(self, endpoint: str, pkt: dict[str, Any]) -> bool:
        """Whether the client may enter ``endpoint``: its class's ``authorize_connect`` says.

        A refusal answers ``7::<endpoint>:2`` (unauthorized, no advice), like
        the reference server's namespace authorization: the connect is not
        echoed and no namespace instance is made, so nothing is kept in
        ``active_ns`` and the client may try again later. The refusal is
        remembered until the client's next connect packet for ``endpoint``:
        other packets for it get the same answer without the hook being
        called again (a client cannot make the application's hook run at its
        packet rate). Only names the application defines, with a hook, are
        remembered, so the memory is bounded by the application.
        """
        authorize = self.namespaces[endpoint].authorize_connect
        if authorize is None:
            return True
        refused = self._refused
        connecting = pkt["type"] == "connect"
        if connecting or refused is None or endpoint not in refused:
            environ = self.environ if self.environ is not None else {"socketio": self}
            query = (pkt.get("qs") or "") if connecting else ""
            if authorize(environ, query):
                if refused is not None:
                    refused.discard(endpoint)
                return True
            if refused is None:
                refused = self._refused = set()
            refused.add(endpoint)
            # (debug: a client may knock again as often as it likes)
            log.debug("%s: namespace %s refused by its authorize_connect", self.sessid, endpoint)
        self.send_packet({"type": "error", "endpoint": endpoint, "reason": "unauthorized"})
        return False

    def get_namespace(self, endpoint: str) -> BaseNamespace:
        """The active namespace instance for ``endpoint``, made (and initialized) if need be."""
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
        manager = host_manager(self.server)
        if manager is not None:
            manager.add_socket(self.sessid, endpoint)
        return ns
