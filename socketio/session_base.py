"""The state every part of a session shares: its slots, and what each part may call on the others.

:class:`~socketio.virtsocket.Socket` is made of parts (the outbox, the
dispatcher, the clock, the 0.3 names), each in its own module. They share
the one object's attributes, declared here once, in slots: a session's
``__dict__`` of as many entries would cost several times more, past what
CPython shares between instances (the figure is in
``benchmarks/RESULTS.md``, idle memory per websocket), and a part that were an
object of its own would cost an object per session and a call per packet on
the hot paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    import gevent
    import gevent.event
    import gevent.lock
    import gevent.queue

    from .config import Config
    from .namespace import BaseNamespace
    from .ratelimit import TokenBucket
    from .seams import Output

__all__ = ["SessionBase"]


class SessionBase:
    """The attributes of a session (see :class:`~socketio.virtsocket.Socket` for their meaning)."""

    __slots__ = (
        "_arrival",
        "_bucket",
        "_client_queue",
        "_clock",
        "_clock_due",
        "_clock_started",
        "_dispatch_lock",
        "_dispatch_seq",
        "_expired",
        "_kill_pending",
        "_last_activity",
        "_next_beat",
        "_output",
        "_queued_bytes",
        "_reader",
        "_received_bytes",
        "_refused",
        "_server_queue",
        "_takers",
        "_timeout",
        "ack_callbacks",
        "ack_counter",
        "active_ns",
        "active_requests",
        "config",
        "connection_established",
        "created",
        "dispatching",
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
        "serving",
        "sessid",
        "session",
        "state",
        "transport_name",
        "volatile_dropped",
        "wsgi_app_greenlet",
    )

    # the session
    server: Any
    config: Config
    sessid: str
    session: dict[str, Any]
    state: str
    ended: gevent.event.Event
    _timeout: Optional[gevent.event.Event]
    _expired: bool
    jobs: list[gevent.Greenlet]
    wsgi_app_greenlet: Optional[gevent.Greenlet]
    connection_established: bool
    transport_name: Optional[str]
    active_requests: int
    created: float
    ack_callbacks: dict[int, Callable[..., Any]]
    ack_counter: int
    # what socketio_manage gives
    request: Any
    environ: Optional[dict[str, Any]]
    namespaces: dict[str, type[BaseNamespace]]
    active_ns: dict[str, BaseNamespace]
    error_handler: Callable[..., Any]
    json_loads: Callable[[str], Any]
    json_dumps: Callable[[Any], str]
    # the outbox
    _client_queue: Optional[gevent.queue.Queue]
    _queued_bytes: int
    _server_queue: Optional[gevent.queue.Queue]
    _received_bytes: int
    _arrival: Optional[gevent.event.Event]
    _output: Optional[Output]
    _kill_pending: bool
    _takers: int
    volatile_dropped: int
    # the dispatcher
    serving: bool
    dispatching: Any
    _reader: Optional[Callable[[], None]]
    _dispatch_lock: Optional[gevent.lock.Semaphore]
    _dispatch_seq: int
    _bucket: Optional[TokenBucket]
    _refused: Optional[set[str]]
    # the clock
    _clock: Any
    _clock_due: float
    _clock_started: bool
    _next_beat: Optional[float]
    _last_activity: float
    heartbeats: int
    hits: int

    if TYPE_CHECKING:  # pragma: no cover
        # What the parts call on one another, declared for mypy only: each is defined,
        # and documented, by one part or by the Socket.

        @property
        def connected(self) -> bool:
            """See :meth:`socketio.virtsocket.Socket.connected`."""

        def enter(self, state: Any) -> bool:
            """See :meth:`socketio.virtsocket.Socket.enter`."""

        def kill(self, detach: bool = False, *, reconnect: bool = False) -> None:
            """See :meth:`socketio.virtsocket.Socket.kill`."""

        def client_left(self) -> None:
            """See :meth:`socketio.virtsocket.Socket.client_left`."""

        def spawn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> gevent.Greenlet:
            """See :meth:`socketio.virtsocket.Socket.spawn`."""

        def error(
            self,
            error_name: str,
            error_message: str,
            endpoint: Optional[str] = None,
            msg_id: Optional[int] = None,
            quiet: bool = False,
        ) -> Any:
            """See :meth:`socketio.virtsocket.Socket.error`."""

        def send_packet(self, pkt: dict[str, Any]) -> None:
            """See :meth:`socketio.virtsocket.Socket.send_packet`."""

        def send_volatile_packet(self, pkt: dict[str, Any]) -> bool:
            """See :meth:`socketio.virtsocket.Socket.send_volatile_packet`."""

        def put_client_msg(self, msg: Optional[str]) -> None:
            """See :meth:`socketio.outbox.Outbox.put_client_msg`."""

        def put_volatile_msg(self, msg: str) -> bool:
            """See :meth:`socketio.outbox.Outbox.put_volatile_msg`."""

        def get_server_msg(self, **kwargs: Any) -> Optional[str]:
            """See :meth:`socketio.outbox.Outbox.get_server_msg`."""

        def heartbeat(self) -> None:
            """See :meth:`socketio.session_clock.SessionClock.heartbeat`."""

        def start_clock(self) -> None:
            """See :meth:`socketio.session_clock.SessionClock.start_clock`."""

        def start_heartbeats(self) -> None:
            """See :meth:`socketio.session_clock.SessionClock.start_heartbeats`."""

        def stop_clock(self) -> None:
            """See :meth:`socketio.session_clock.SessionClock.stop_clock`."""

        def receiver_loop(self) -> None:
            """See :meth:`socketio.dispatcher.Dispatcher.receiver_loop`."""

        def spawn_receiver_loop(self) -> gevent.Greenlet:
            """See :meth:`socketio.dispatcher.Dispatcher.spawn_receiver_loop`."""

        def get_namespace(self, endpoint: str) -> BaseNamespace:
            """See :meth:`socketio.dispatcher.Dispatcher.get_namespace`."""

        def handle_packet(self, rawdata: str) -> None:
            """See :meth:`socketio.dispatcher.Dispatcher.handle_packet`."""
