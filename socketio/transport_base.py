"""What every transport shares: the handler seam, the config, the connection dropper.

See :mod:`socketio.transports` for the transports themselves.
"""

from __future__ import annotations

import logging
import struct
from socket import SHUT_RDWR, SO_LINGER, SOL_SOCKET
from typing import TYPE_CHECKING, Any, Optional

import gevent

from .config import Config
from .protocol import Response, text_response
from .seams import TransportHost

if TYPE_CHECKING:  # pragma: no cover
    from .deadlines import Deadlines
    from .metrics import Traffic
    from .virtsocket import Socket

__all__ = ["NOOP", "NOT_HANDSHAKEN", "PACKETS_PER_TURN", "BaseTransport"]

log = logging.getLogger("socketio.transports")  # (the lines keep the logger they always had)

#: The error packet that makes a 0.9 client handshake again.
NOT_HANDSHAKEN = "7:::1+0"
NOOP = "8::"

#: packets of one POST body split, or queued, before the other connections get a turn
PACKETS_PER_TURN = 1000


class BaseTransport:
    """Common parts of every transport.

    Args:
        handler: the :class:`~socketio.handler.SocketIOHandler` serving the request.
        config: the server's :class:`~socketio.config.Config`.
    """

    name = ""

    #: where this transport counts what it carries, with metrics on (set by
    #: the handler; ``None``, the class's value, with metrics off)
    traffic: Optional[Traffic] = None

    #: where a held poll's deadline is kept (the server's shared timer, set
    #: by the handler); ``None``, the class's value: a gevent ``Timeout`` each
    deadlines: Optional[Deadlines] = None

    #: seconds a client whose session ended has to read its last packets (and
    #: answer a websocket's closing handshake) before its connection is dropped
    close_grace: float = 2.0

    def __init__(self, handler: TransportHost, config: Any) -> None:
        self.handler: TransportHost = handler
        self.config: Config = Config.coerce(config)
        self._dropper: Optional[gevent.Greenlet] = None
        self._dropping: Optional[Socket] = None

    def _arm_dropper(self, session: Socket) -> None:
        """Drop the TCP connection ``close_grace`` seconds after ``session`` ends.

        For the connections that carry a session (websocket, streams): a client
        that stopped reading (a slow consumer: the sender is stuck on a full
        TCP buffer), vanished, or never answers the close frame would otherwise
        hold the connection and its greenlets forever. No greenlet waits for
        that meanwhile: one is started when the session ends. Call
        :meth:`_disarm_dropper` when the connection ends normally.
        """
        self._dropping = session
        session.ended.rawlink(self._session_ended)

    def _session_ended(self, _event: Any) -> None:
        self._dropper = gevent.spawn_later(self.close_grace, self._drop)

    def _disarm_dropper(self) -> None:
        session = self._dropping
        if session is not None:
            session.ended.unlink(self._session_ended)
            self._dropping = None
        if self._dropper is not None:
            self._dropper.kill(block=False)
            self._dropper = None

    def _drop(self) -> None:
        """Drop the connection abortively (RST).

        What the kernel still buffers for a client that does not read is
        discarded, not trickled out to it.
        """
        session = self._dropping
        raw = getattr(self.handler, "socket", None)
        if raw is None:
            return
        log.info("%s: dropping the %s connection its client did not close", session, self.name)
        try:
            raw.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 0))
            raw.shutdown(SHUT_RDWR)
        except OSError:
            pass

    #: seconds between two looks at a session's incoming queue, while it is
    #: over its limits (see _wait_for_handlers)
    read_ahead_check = 0.01

    def _wait_for_handlers(self, session: Socket) -> None:
        """Return once ``session``'s handlers have caught up with what its client sent.

        A client must not queue without bound what a waiting handler has not
        taken yet: while the session's incoming queue holds
        ``max_queue_size`` packets or more than ``max_queue_bytes``, this
        waits (until the session ends, at the latest).
        """
        config = self.config
        while not session.ended.is_set():
            packets, size = session.server_backlog
            if packets < config.max_queue_size and size <= config.max_queue_bytes:
                return
            gevent.sleep(self.read_ahead_check)

    @property
    def origin(self) -> Optional[str]:
        """The request's ``Origin`` header, if any."""
        return self.handler.environ.get("HTTP_ORIGIN")

    def do_exchange(self, socket: Socket, request_method: str) -> Optional[Response]:
        """Serve one request of ``socket``; return the answer, or ``None`` if already sent."""
        raise NotImplementedError

    def not_handshaken(self) -> Response:
        """The answer for an unknown or expired session id."""
        return text_response(200, NOT_HANDSHAKEN, self.origin)

    def answer_not_handshaken(self) -> Response:
        """:meth:`not_handshaken`, counted as an error packet sent (metrics on)."""
        response = self.not_handshaken()
        if self.traffic is not None:
            body = response.body
            self.traffic.sent((NOT_HANDSHAKEN,), len(body) if isinstance(body, bytes) else 0)
        return response


if TYPE_CHECKING:  # pragma: no cover
    # mypy checks that the real handler gives a transport what it needs.
    from .handler import SocketIOHandler

    def _host(handler: SocketIOHandler) -> TransportHost:
        return handler
