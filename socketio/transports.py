"""The transports: moving packets between a virtual socket and one kind of connection.

Each class does I/O only. Incoming bodies go through :mod:`socketio.payload`
into :meth:`Socket.put_server_msg`; outgoing packets come from
:meth:`Socket.get_multiple_client_msgs` and leave framed by the same module.
Polling transports return a :class:`~socketio.protocol.Response` value that the
handler sends; the websocket transports run their connection until it ends,
writing packets straight to it and handling those they read in their own
greenlet (see :class:`WebsocketTransport`).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterator
from socket import SHUT_RDWR, SO_LINGER, SOL_SOCKET
from typing import TYPE_CHECKING, Any, Optional

import gevent
import gevent.queue
from geventwebsocket.exceptions import WebSocketError

from . import payload, wsframe
from . import payload as _payload  # decode_payload() shadows the name
from .config import Config
from .exceptions import PayloadError
from .fairness import pause
from .protocol import JAVASCRIPT, NOSNIFF, Response, cors_headers, text_response

if TYPE_CHECKING:  # pragma: no cover
    from .virtsocket import Socket

__all__ = [
    "NOT_HANDSHAKEN",
    "BaseTransport",
    "FlashSocketTransport",
    "HTMLFileTransport",
    "JSONPolling",
    "WebsocketTransport",
    "XHRMultipartTransport",
    "XHRPollingTransport",
]

log = logging.getLogger(__name__)

#: The error packet that makes a 0.9 client handshake again.
NOT_HANDSHAKEN = "7:::1+0"
NOOP = "8::"

#: packets of one POST body split, or queued, before the other connections get a turn
PACKETS_PER_TURN = 1000


def _live(messages: list[Optional[str]]) -> tuple[list[str], bool]:
    """Split queued messages into packets and a flag telling whether the socket closed."""
    packets = [m for m in messages if m is not None]
    return packets, len(packets) != len(messages)


class BaseTransport:
    """Common parts of every transport.

    Args:
        handler: the :class:`~socketio.handler.SocketIOHandler` serving the request.
        config: the server's :class:`~socketio.config.Config`.
    """

    name = ""

    #: seconds a client whose session ended has to read its last packets (and
    #: answer a websocket's closing handshake) before its connection is dropped
    close_grace: float = 2.0

    def __init__(self, handler: Any, config: Any) -> None:
        self.handler = handler
        self.config: Config = Config.coerce(config)
        self._dropper: Optional[gevent.Greenlet] = None
        self._dropping: Optional[Socket] = None

    def _arm_dropper(self, socket: Socket) -> None:
        """Drop the TCP connection ``close_grace`` seconds after ``socket`` ends.

        For the connections that carry a session (websocket, streams): a client
        that stopped reading (a slow consumer: the sender is stuck on a full
        TCP buffer), vanished, or never answers the close frame would otherwise
        hold the connection and its greenlets forever. No greenlet waits for
        that meanwhile: one is started when the session ends. Call
        :meth:`_disarm_dropper` when the connection ends normally.
        """
        self._dropping = socket
        socket.ended.rawlink(self._session_ended)

    def _session_ended(self, _event: Any) -> None:
        self._dropper = gevent.spawn_later(self.close_grace, self._drop)

    def _disarm_dropper(self) -> None:
        socket = self._dropping
        if socket is not None:
            socket.ended.unlink(self._session_ended)
            self._dropping = None
        if self._dropper is not None:
            self._dropper.kill(block=False)
            self._dropper = None

    def _drop(self) -> None:
        """Drop the connection abortively (RST).

        What the kernel still buffers for a client that does not read is
        discarded, not trickled out to it.
        """
        socket = self._dropping
        raw = getattr(self.handler, "socket", None)
        if raw is None:
            return
        log.info("%s: dropping the %s connection its client did not close", socket, self.name)
        try:
            raw.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 0))
            raw.shutdown(SHUT_RDWR)
        except OSError:
            pass

    #: seconds between two looks at a session's incoming queue, while it is
    #: over its limits (see _wait_for_handlers)
    read_ahead_check = 0.01

    def _wait_for_handlers(self, socket: Socket) -> None:
        """Return once ``socket``'s handlers have caught up with what its client sent.

        A client must not queue without bound what a waiting handler has not
        taken yet: while the session's incoming queue holds
        ``max_queue_size`` packets or more than ``max_queue_bytes``, this
        waits (until the session ends, at the latest).
        """
        config = self.config
        while not socket.ended.is_set():
            packets, size = socket.server_backlog
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


class XHRPollingTransport(BaseTransport):
    """Long-polling over XMLHttpRequest: GET waits for packets, POST delivers them."""

    name = "xhr-polling"
    content_type = "text/plain; charset=UTF-8"

    def encode_payload(self, messages: list[str]) -> str:
        """Frame packets for one response body."""
        return payload.encode_payload(messages)

    def decode_payload(self, payload: str) -> list[str]:  # the parameter name is the original's
        """Split a POST body into packets (at most ``max_packets_per_payload``).

        A body of thousands of packets is split :data:`PACKETS_PER_TURN` at a
        time, letting the other connections run in between.
        """
        packets = []
        for packet in _payload.iter_payload(payload, self.config.max_packets_per_payload):
            packets.append(packet)
            if not len(packets) % PACKETS_PER_TURN:
                pause()
        return packets

    def answer(self, packets: list[str]) -> str:
        """The text of a GET's answer carrying ``packets`` (none: a noop)."""
        return self.encode_payload(packets) if packets else NOOP

    def unwrap(self, body: str) -> str:
        """Turn a POST body into a framed payload (JSONP unwraps the form)."""
        return body

    def do_exchange(self, socket: Socket, request_method: str) -> Optional[Response]:
        if request_method == "GET":
            return self._get(socket)
        if request_method == "POST":
            return self._post(socket)
        if request_method == "OPTIONS":
            headers = [
                ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
                ("Access-Control-Allow-Headers", "Content-Type"),
                ("Access-Control-Max-Age", "86400"),
                ("Content-Length", "0"),
                NOSNIFF,
                *cors_headers(self.origin),
            ]
            return Response(200, headers, b"")
        response = text_response(405, "method not allowed", self.origin)
        response.headers.append(("Allow", "GET, POST, OPTIONS"))
        return response

    def _get(self, socket: Socket) -> Response:
        socket.active_requests += 1
        try:
            messages = socket.get_multiple_client_msgs(timeout=self.config.polling_duration)
        except gevent.queue.Empty:
            messages = []
        finally:
            socket.active_requests -= 1
            socket.heartbeat()
        packets, _ = _live(messages)
        return text_response(200, self.answer(packets), self.origin, self.content_type)

    def _post(self, socket: Socket) -> Response:
        try:
            text = self.handler.read_body()
            packets = self.decode_payload(self.unwrap(text))
        except PayloadError as exc:
            log.info("%s: refused POST body: %s", socket, exc)
            return text_response(exc.status_hint, str(exc), self.origin)
        for count, pkt in enumerate(packets, 1):
            socket.put_server_msg(pkt)
            if not count % PACKETS_PER_TURN:
                pause()
        del packets, text  # (not kept while the handlers catch up)
        # The 0.9 client posts again once answered: answering when the
        # handlers have caught up holds it back, as TCP holds a websocket's.
        self._wait_for_handlers(socket)
        socket.heartbeat()
        return text_response(200, "1", self.origin)


class JSONPolling(XHRPollingTransport):
    """Long-polling through ``<script>`` tags (GET) and hidden forms (POST)."""

    name = "jsonp-polling"
    content_type = JAVASCRIPT

    def __init__(self, handler: Any, config: Any, index: int = 0) -> None:
        super().__init__(handler, config)
        self.index = index

    def answer(self, packets: list[str]) -> str:
        return payload.jsonp_payload(self.index, packets or [NOOP])

    def unwrap(self, body: str) -> str:
        return payload.decode_jsonp_form(body)

    def not_handshaken(self) -> Response:
        return text_response(
            200, payload.jsonp_wrap(self.index, NOT_HANDSHAKEN), self.origin, JAVASCRIPT
        )


class _StreamingTransport(XHRPollingTransport):
    """A GET that stays open and carries every batch of packets (POSTs as XHR polling)."""

    stream_content_type = ""

    def first_chunk(self) -> str:
        return ""

    def chunk(self, text: str) -> str:
        raise NotImplementedError

    def _get(self, socket: Socket) -> Response:
        headers = [
            ("Content-Type", self.stream_content_type),
            ("Cache-Control", "no-store"),
            NOSNIFF,
            *cors_headers(self.origin),
        ]
        return Response(200, headers, self._stream(socket))

    def _stream(self, socket: Socket) -> Iterator[bytes]:
        socket.active_requests += 1
        self._arm_dropper(socket)
        try:
            yield self.first_chunk().encode("utf-8")
            while True:
                try:
                    messages = socket.get_multiple_client_msgs(
                        timeout=self.config.heartbeat_interval
                    )
                except gevent.queue.Empty:
                    messages = [NOOP]
                packets, closed = _live(messages)
                if packets:
                    yield self.chunk(self.encode_payload(packets)).encode("utf-8")
                if closed:
                    return
        finally:
            self._disarm_dropper()
            socket.active_requests -= 1
            socket.heartbeat()

    def not_handshaken(self) -> Response:
        headers = [
            ("Content-Type", self.stream_content_type),
            ("Cache-Control", "no-store"),
            NOSNIFF,
            *cors_headers(self.origin),
        ]
        body = (self.first_chunk() + self.chunk(NOT_HANDSHAKEN)).encode("utf-8")
        return Response(200, headers, [body])


class HTMLFileTransport(_StreamingTransport):
    """A forever-loading iframe (old Internet Explorer): one ``<script>`` per batch."""

    name = "htmlfile"
    stream_content_type = "text/html; charset=UTF-8"

    def first_chunk(self) -> str:
        return payload.htmlfile_preamble()

    def chunk(self, text: str) -> str:
        return payload.htmlfile_chunk(text)


class XHRMultipartTransport(_StreamingTransport):
    """A ``multipart/x-mixed-replace`` stream, one part per batch (legacy)."""

    name = "xhr-multipart"
    stream_content_type = f'multipart/x-mixed-replace;boundary="{payload.MULTIPART_BOUNDARY}"'

    def first_chunk(self) -> str:
        return f"--{payload.MULTIPART_BOUNDARY}\r\n"

    def chunk(self, text: str) -> str:
        return payload.multipart_part(text)


class _WebsocketOutput:
    """A websocket session's :class:`~socketio.virtsocket.Output`: packets become frames at once."""

    __slots__ = ("websocket",)

    def __init__(self, websocket: Any) -> None:
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

    * :meth:`_read_and_dispatch`: the connection's greenlet runs the
      application, whose receiver loop calls the reader this transport
      offers (:meth:`_read_for_receiver`), which reads the connection and
      dispatches each packet as it is read.
    * :meth:`_read_and_queue`: when a handler waits for something (I/O, a
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

    def __init__(self, handler: Any, config: Any) -> None:
        super().__init__(handler, config)
        self._queue_reader: Optional[gevent.Greenlet] = None
        self._attached = False
        self._session: Optional[Socket] = None  # the session whose application reads here
        self._dispatch_reader: Any = None  # the greenlet of that application while it reads

    def attach(self, socket: Socket) -> None:
        """Make this connection the way ``socket``'s packets leave (before any is sent)."""
        if not self._attached:
            self._attached = True
            socket.attach_output(_WebsocketOutput(self.handler.websocket))
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
        """The reader offered to the receiver loop: read and dispatch in its greenlet.

        Returns when the connection ends (the session is then ended), when
        the session ends (even while waiting for a message), or when a
        handler waited and reading went to the queue reader.
        """
        session = self._session
        assert session is not None
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
            if message is None or isinstance(message, str):
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
        loop = gevent.get_hub().loop
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
            # The callback runs only if the handler yields to the hub.
            watch = loop.run_callback(self._start_queue_reader, session, websocket)
            try:
                session.dispatch(message)
            finally:
                watch.stop()
            if self._queue_reader is not None:
                if not for_receiver:
                    self._queue_reader.join()
                return
            if for_receiver and not session.serving:
                return  # the session ended while its packet was handled

    def _start_queue_reader(self, session: Socket, websocket: Any) -> None:
        if self._queue_reader is None and session.dispatching is not None:
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
        try:
            websocket.send(NOT_HANDSHAKEN)
            websocket.close()
        except (WebSocketError, OSError):
            pass


class FlashSocketTransport(WebsocketTransport):
    """The websocket protocol spoken by the Flash bridge of old browsers."""

    name = "flashsocket"
