"""Every exception this library raises.

The tree::

    SocketIOError                      base of everything raised here
    ├── ProtocolError (ValueError)     the peer sent something we cannot accept
    │   ├── PacketError                one packet is malformed
    │   ├── PayloadError               the framing of an HTTP body is malformed,
    │   │                              or a body is larger than allowed
    │   ├── HeadError                  an HTTP request line or head is malformed
    │   │                              or too large
    │   └── FrameError                 a websocket frame breaks RFC 6455 or a limit
    ├── ConfigError (ValueError)       the library was configured or called wrongly
    │   └── ACLError                   misuse of the namespace ACL methods
    ├── NotSocketIORequest (KeyError)  socketio_manage called for a request that is
    │                                  not one of a Socket.IO session (answered 404)
    └── CountUnavailable               a cluster-wide count could not be had in time

``ProtocolError`` carries ``status_hint``: the HTTP status a server should
answer with when the error came from a request (in the manner of h11's
``error_status_hint``); ``FrameError`` also carries ``close_code``, the
websocket status to close the connection with (in the manner of wsproto's
``event_hint``).

Code written for Python 2 reads ``e.message``; every exception here carries its
text in ``.message`` as well as in ``str(e)``.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "ACLError",
    "AckTimeout",
    "ConfigError",
    "CountUnavailable",
    "FrameError",
    "HeadError",
    "NotSocketIORequest",
    "PacketError",
    "PayloadError",
    "ProtocolError",
    "RelayError",
    "SocketIOError",
    "StreamCut",
]


class SocketIOError(Exception):
    """Base class of every exception raised by this library."""

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(message, *args)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ProtocolError(SocketIOError, ValueError):
    """The remote peer sent input that violates the Socket.IO 0.9 protocol.

    Attributes:
        status_hint: the HTTP status code to answer with (400 by default).
    """

    def __init__(self, message: str = "", *args: object, status_hint: int = 400) -> None:
        super().__init__(message, *args)
        self.status_hint = status_hint


class PacketError(ProtocolError):
    """A single packet could not be decoded or encoded."""


class PayloadError(ProtocolError):
    """A polling body (several framed packets, or a JSONP form) is malformed or too large."""


class HeadError(ProtocolError):
    """A request head we refuse: its ``status_hint`` is the answer, and the connection closes.

    Attributes:
        kind: a short constant naming the mistake, for rate-limited logging
            (see :class:`socketio.peerlog.PeerLog`).
    """

    def __init__(self, message: str = "", kind: str = "bad-head", status_hint: int = 400) -> None:
        super().__init__(message, status_hint=status_hint)
        self.kind = kind


class FrameError(ProtocolError):
    """A websocket frame from the client breaks RFC 6455 or exceeds a size limit.

    Attributes:
        close_code: the websocket status code to close the connection with
            (1002 protocol error, 1009 message too big).
    """

    def __init__(self, message: str = "", *args: object, close_code: int = 1002) -> None:
        super().__init__(message, *args)
        self.close_code = close_code


class RelayError(ProtocolError):
    """A session's owner answered a forwarded request with what is not HTTP/1.1 as we read it.

    See :mod:`socketio.forwarding`; the client is then answered as if the
    owner were gone.
    """


class StreamCut(RelayError):
    """A relayed stream (htmlfile, xhr-multipart) broke off at its owner.

    The client's stream is cut short in turn (its connection closed without
    the chunked body's end), not ended as if it were whole.
    """


class ConfigError(SocketIOError, ValueError):
    """A setting or an argument given by the application is invalid."""


class ACLError(ConfigError):
    """The ACL methods of a namespace were used in a way that cannot work."""


class NotSocketIORequest(SocketIOError, KeyError):
    """:func:`socketio.socketio_manage` was called for a request that carries no session.

    The server sets ``environ['socketio']`` only for the requests of a
    Socket.IO session under ``/<resource>/1/``; an application routing on a
    looser prefix (``startswith('/socket.io')`` also takes ``/socket.iox``)
    calls ``socketio_manage`` for others too. The server's handler answers
    such a request ``404 Not Found``. A ``KeyError`` (for ``'socketio'``), as
    the original raised.

    Attributes:
        status_hint: the HTTP status to answer with (404).
    """

    status_hint = 404


class AckTimeout(SocketIOError):
    """The value an ack callback (or its ``on_timeout``) gets when no ack came in time.

    Passed, never raised by the library: an
    ``emit(event, ..., callback=cb, ack_timeout=5)`` whose client does not
    acknowledge within 5 seconds calls ``cb(AckTimeout(...))`` (or
    ``on_timeout(AckTimeout(...))`` when an ``on_timeout`` was given), once,
    instead of keeping ``cb`` until the session ends. It is an exception so
    that code waiting for an ack (an :class:`~gevent.event.AsyncResult`, say)
    can raise it as it is. The same value is given when the session's
    ``max_pending_acks`` is reached and the ack is the oldest pending one
    (``early`` is then true).

    Attributes:
        msg_id: the id of the packet that asked for the ack.
        event: the event's name.
        seconds: the timeout that was asked for.
        early: true when it was given up before its time, to make room under
            ``max_pending_acks``.
    """

    def __init__(
        self,
        message: str = "",
        *args: object,
        msg_id: int = 0,
        event: str = "",
        seconds: float = 0.0,
        early: bool = False,
    ) -> None:
        super().__init__(message, *args)
        self.msg_id = msg_id
        self.event = event
        self.seconds = seconds
        self.early = early


class CountUnavailable(SocketIOError):
    """A cluster-wide count could not be had in time (the bus is down, hung or refused it).

    Raised by :meth:`socketio.redis_counts.CountingManager.cluster_count`
    within about ``publish_timeout`` (``connect_timeout`` if it must
    connect) so that a view or job asking for it never hangs; this process's
    own count (:meth:`~socketio.membership.ManagerQueries.count`) is always
    at hand.

    Attributes:
        endpoint: the namespace that was counted.
        room: the room, or ``None`` for the whole namespace.
    """

    def __init__(
        self, message: str = "", *args: object, endpoint: str = "", room: Optional[str] = None
    ) -> None:
        super().__init__(message, *args)
        self.endpoint = endpoint
        self.room = room
