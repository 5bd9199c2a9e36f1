"""The websocket transports: one packet per text frame, both ways.

Re-exported by :mod:`socketio.transports`, where applications find them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

import gevent
from geventwebsocket.exceptions import WebSocketError

from . import wsframe
from .metrics import utf8_size
from .protocol import Response
from .seams import TransportHost
from .transport_base import NOT_HANDSHAKEN, BaseTransport

if TYPE_CHECKING:  # pragma: no cover
    from .metrics import Traffic
    from .virtsocket import Socket
    from .wsconn import BoundedWebSocket

__all__ = ["FlashSocketTransport", "WebsocketTransport"]

log = logging.getLogger("socketio.transports")  # (the lines keep the logger they always had)


class _WebsocketOutput:
    """A websocket session's :class:`~socketio.virtsocket.Output`: packets become frames at once."""

    __slots__ = ("websocket",)

    def __init__(self, websocket: BoundedWebSocket) -> None:
        self.websocket = websocket

    @property
    def backlog(self) -> int:
        return self.websocket.backlog

    @property
    def backlog_bytes(self) -> int:
        """Bytes of packets written and not yet taken by the kernel (see ``BoundedWebSocket``)."""
        return self.websocket.backlog_bytes

    def write(self, msg: Optional[str]) -> None:
        websocket = self.websocket
        if msg is None:
            websocket.close()
        elif not websocket.closed:
            websocket.offer(wsframe.text_frame(msg))


class _MeteredWebsocketOutput(_WebsocketOutput):
    """A :class:`_WebsocketOutput` that counts what it writes (metrics on)."""

    __slots__ = ("traffic",)

    def __init__(self, websocket: BoundedWebSocket, traffic: Traffic) -> None:
        super().__init__(websocket)
        self.traffic = traffic

    def write(self, msg: Optional[str]) -> None:
        # (the base's body, not a call to it: this runs for every packet sent)
        websocket = self.websocket
        if msg is None:
            websocket.close()
        elif not websocket.closed:
            traffic = self.traffic
            traffic.packets_out += 1
            traffic.bytes_out += len(msg) if msg.isascii() else utf8_size(msg)
            if msg[:1] == "7":
                traffic.error_packets_out += 1
            websocket.offer(wsframe.text_frame(msg))


class _ReadingStopped(gevent.GreenletExit):
    """Thrown into a greenlet serving a session, waiting for a message, when the session ends."""

    def __init__(self, message: str = "the session ended", *args: object) -> None:
        super().__init__(message, *args)
        self.message = message


class WebsocketTransport(BaseTransport):
    """One packet per websocket text frame, both ways.

    The handler has already upgraded the connection (``handler.websocket``, a
    :class:`~socketio.wsconn.BoundedWebSocket`). Packets for the client are
    written from whichever greenlet sends them, without blocking it (the
    websocket keeps a backlog for a client slow to read, bounded by
    ``max_queue_size``).

    Reading the connection has two modes, one method each:

    * ``_read_and_dispatch()``: the connection's greenlet runs the
      application, whose receiver loop calls the reader this transport
      offers (``_read_for_receiver()``), which reads the connection and
      dispatches each packet as it is read.
    * ``_read_and_queue()``: when a handler waits for something (I/O, a
      sleep), reading goes on in a second greenlet, the *queue reader*, for
      the rest of the connection; it queues what it reads for the receiver
      loop, so a blocked handler never stops the connection from being read
      (heartbeats, the close). Past ``max_queue_size`` packets or
      ``max_queue_bytes`` queued and not yet taken, it waits for the
      handlers to catch up.

    Once the application has returned, the connection is read until the
    client closes it.
    """

    name = "websocket"

    def __init__(self, handler: TransportHost, config: Any) -> None:
        super().__init__(handler, config)
        self._queue_reader: Optional[gevent.Greenlet] = None
        self._attached = False
        self._session: Optional[Socket] = None  # the session read here
        self._dispatch_reader: Any = None  # the greenlet of that application while it reads

    def attach(self, socket: Socket) -> None:
        """Make this connection the way ``socket``'s packets leave (before any is sent)."""
        if not self._attached:
            self._attached = True
            websocket = self.handler.websocket
            traffic = self.traffic
            socket.attach_output(
                _WebsocketOutput(websocket)
                if traffic is None
                else _MeteredWebsocketOutput(websocket, traffic)
            )
            self._arm_dropper(socket)

    def do_exchange(
        self,
        socket: Socket,
        request_method: str,
        application: Optional[Callable[[], Any]] = None,
    ) -> Optional[Response]:
        """Serve the session on this connection until the connection ends.

        ``application``, if given, is run here first; its receiver loop
        reads the connection (see the class's description).
        """
        session = socket
        websocket = self.handler.websocket
        session.active_requests += 1
        self.attach(session)
        try:
            if application is not None:
                # (a bound method, not a partial: the call stays in the
                # interpreter's loop, and the greenlet's C stack, copied on
                # every switch, stays short; nor a closure, which would
                # hold three more objects for as long as the session lasts)
                self._session = session
                session.set_reader(self._read_for_receiver)
                try:
                    application()
                finally:
                    session.set_reader(None)
            if self._queue_reader is not None:
                self._queue_reader.join()  # it reads until the connection ends
            elif websocket.closed:  # the session ended: wait for the client's close frame
                websocket.await_close()
            else:
                self._read_and_dispatch(session, websocket)
        finally:
            session.active_requests -= 1
            self._disarm_dropper()
            self._connection_ended(session, websocket)
        return None

    def _connection_ended(self, session: Socket, websocket: Any) -> None:
        if not websocket.closed:
            websocket.close()
        # A 0.9 client whose websocket closed handshakes a new session.
        session.kill(detach=True)

    def _read_for_receiver(self) -> None:
        """The reader offered to the receiver loop: greet, then read and dispatch in its greenlet.

        Returns when the connection ends (the session is then ended), when
        the session ends (even while waiting for a message), or when a
        handler waited and reading went to the queue reader.
        """
        session = self._session
        assert session is not None
        # The application serves the session: only now is the client told it
        # is connected (see socketio.greeting).
        session.put_client_msg("1::")
        self._dispatch_reader = gevent.getcurrent()
        session.ended.rawlink(self._stop_reading)
        try:
            self._read_and_dispatch(session, self.handler.websocket, for_receiver=True)
        except _ReadingStopped:
            pass
        finally:
            # (a callback already scheduled must not interrupt a later read)
            self._dispatch_reader = None
            session.ended.unlink(self._stop_reading)

    def _stop_reading(self, _event: Any) -> None:
        reader = self._dispatch_reader
        if reader is not None:
            self.handler.websocket.interrupt_wait(reader, _ReadingStopped())

    def _next_message(self, session: Socket, websocket: Any) -> Optional[str]:
        """The next text message from the client, or ``None`` when the connection ends."""
        while True:
            try:
                message = websocket.receive()
            except WebSocketError:
                return None
            if message is None:
                return None
            traffic = self.traffic
            if traffic is not None:  # (counted here, inline: this runs for every packet)
                traffic.packets_in += 1
                traffic.bytes_in += (
                    (len(message) if message.isascii() else utf8_size(message))
                    if isinstance(message, str)
                    else len(message)
                )
            if isinstance(message, str):
                return message
            try:
                return bytes(message).decode("utf-8")
            except UnicodeDecodeError:
                log.info("%s: dropped a binary frame that is not UTF-8", session)

    def _read_and_dispatch(
        self, session: Socket, websocket: Any, for_receiver: bool = False
    ) -> None:
        # The hot path of a websocket session: the session's own methods,
        # called directly, between the read and the namespace's handler.
        current = gevent.getcurrent()
        self._session = session
        while True:
            # (the last message is let go of before waiting for the next: it
            # may be megabytes, and the client may stay quiet for hours)
            message = None
            websocket.wait_message()  # (here: see its description)
            message = self._next_message(session, websocket)
            if message is None:
                if for_receiver:  # the receiver loop waits for the session's end
                    self._connection_ended(session, websocket)
                return
            if not session.can_dispatch_now():
                session.put_server_msg(message)
                continue
            session.heartbeat()
            # If the handler waits for anything, reading goes on in another
            # greenlet: every gevent wait switches to the hub through its
            # switch(), which first calls the waiting greenlet's switch_out
            # (a hook of gevent's; no per-message callback to schedule).
            current.switch_out = self._handler_waits
            try:
                session.dispatch(message)
            finally:
                current.switch_out = None
            if self._queue_reader is not None:
                if not for_receiver:
                    self._queue_reader.join()
                return
            if for_receiver and not session.serving:
                return  # the session ended while its packet was handled

    def _handler_waits(self) -> None:
        """A handler of the reading greenlet waits (its ``switch_out``): read on in another."""
        session = self._session
        if self._queue_reader is None and session is not None and session.dispatching is not None:
            websocket = self.handler.websocket
            log.debug("%s: a handler waits; reading goes on in another greenlet", session)
            self._queue_reader = gevent.spawn(self._read_and_queue, session, websocket)

    def _read_and_queue(self, session: Socket, websocket: Any) -> None:
        try:
            while True:
                message = self._next_message(session, websocket)
                if message is None:
                    return
                session.put_server_msg(message)
                del message  # (not kept while the next is awaited)
                # (and the rest of a flood is held at the client by TCP)
                self._wait_for_handlers(session)
        finally:
            # The handler the first greenlet is in may wait for ever: end it.
            session.kill(detach=True)

    def send_not_handshaken(self, websocket: Any) -> None:
        """Tell a client with an unknown session to handshake again, and close."""
        if self.traffic is not None:
            self.traffic.sent((NOT_HANDSHAKEN,), len(NOT_HANDSHAKEN))
        try:
            websocket.send(NOT_HANDSHAKEN)
            websocket.close()
        except (WebSocketError, OSError):
            pass


class FlashSocketTransport(WebsocketTransport):
    """The websocket protocol spoken by the Flash bridge of old browsers."""

    name = "flashsocket"
