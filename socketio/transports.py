"""The transports: moving packets between a virtual socket and one kind of connection.

Each class does I/O only. Incoming bodies go through :mod:`socketio.payload`
into :meth:`Socket.put_server_msg`; outgoing packets come from
:meth:`Socket.get_multiple_client_msgs` and leave framed by the same module.
Polling transports return a :class:`~socketio.protocol.Response` value that the
handler sends; the websocket transports run their connection until it ends.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from socket import SHUT_RDWR, SO_LINGER, SOL_SOCKET
from typing import TYPE_CHECKING, Any, Optional

import gevent
import gevent.queue
from geventwebsocket.exceptions import WebSocketError

from . import payload
from . import payload as _payload  # decode_payload() shadows the name
from .config import Config
from .exceptions import PayloadError
from .protocol import JAVASCRIPT, Response, cors_headers, text_response

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

    def _drop_when_ended(self, socket: Socket) -> None:
        """Drop the TCP connection ``close_grace`` seconds after the session ended.

        For the connections that carry a session (websocket, streams): a client
        that stopped reading (a slow consumer: the sender is stuck on a full
        TCP buffer), vanished, or never answers the close frame would otherwise
        hold the connection and its greenlets forever. The close is abortive
        (RST): what the kernel still buffers for such a client is discarded,
        not trickled out to it. The caller kills this greenlet when its
        connection ends normally.
        """
        socket.ended.wait()
        gevent.sleep(self.close_grace)
        raw = getattr(self.handler, "socket", None)
        if raw is None:
            return
        log.info("%s: dropping the %s connection its client did not close", socket, self.name)
        try:
            raw.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 0))
            raw.shutdown(SHUT_RDWR)
        except OSError:
            pass

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
        """Split a POST body into packets (at most ``max_packets_per_payload``)."""
        return _payload.decode_payload(payload, self.config.max_packets_per_payload)

    def wrap(self, body: str) -> str:
        """Turn a framed payload into the response text (JSONP wraps it)."""
        return body

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
        body = self.encode_payload(packets) if packets else NOOP
        return text_response(200, self.wrap(body), self.origin, self.content_type)

    def _post(self, socket: Socket) -> Response:
        try:
            text = self.handler.read_body()
            packets = self.decode_payload(self.unwrap(text))
        except PayloadError as exc:
            log.info("%s: refused POST body: %s", socket, exc)
            return text_response(exc.status_hint, str(exc), self.origin)
        for pkt in packets:
            socket.put_server_msg(pkt)
        socket.heartbeat()
        return text_response(200, "1", self.origin)


class JSONPolling(XHRPollingTransport):
    """Long-polling through ``<script>`` tags (GET) and hidden forms (POST)."""

    name = "jsonp-polling"
    content_type = JAVASCRIPT

    def __init__(self, handler: Any, config: Any, index: int = 0) -> None:
        super().__init__(handler, config)
        self.index = index

    def wrap(self, body: str) -> str:
        return payload.jsonp_wrap(self.index, body)

    def unwrap(self, body: str) -> str:
        return payload.decode_jsonp_form(body)

    def not_handshaken(self) -> Response:
        return text_response(200, self.wrap(NOT_HANDSHAKEN), self.origin, JAVASCRIPT)


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
            *cors_headers(self.origin),
        ]
        return Response(200, headers, self._stream(socket))

    def _stream(self, socket: Socket) -> Iterator[bytes]:
        socket.active_requests += 1
        dropper = gevent.spawn(self._drop_when_ended, socket)
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
            dropper.kill(block=False)
            socket.active_requests -= 1
            socket.heartbeat()

    def not_handshaken(self) -> Response:
        headers = [("Content-Type", self.stream_content_type), *cors_headers(self.origin)]
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


class WebsocketTransport(BaseTransport):
    """One packet per websocket text frame, both ways.

    The handler has already upgraded the connection (``handler.websocket``).
    """

    name = "websocket"

    def do_exchange(self, socket: Socket, request_method: str) -> Optional[Response]:
        websocket = self.handler.websocket
        socket.active_requests += 1
        writer = gevent.spawn(self._send_loop, socket, websocket)
        dropper = gevent.spawn(self._drop_when_ended, socket)
        try:
            self._receive_loop(socket, websocket)
        finally:
            socket.active_requests -= 1
            dropper.kill(block=False)
            writer.kill(block=False)
            if not websocket.closed:
                websocket.close()
            # A 0.9 client whose websocket closed handshakes a new session.
            socket.kill(detach=True)
        return None

    def _receive_loop(self, socket: Socket, websocket: Any) -> None:
        while True:
            try:
                message = websocket.receive()
            except WebSocketError:
                return
            if message is None:
                return
            if not isinstance(message, str):
                try:
                    message = bytes(message).decode("utf-8")
                except UnicodeDecodeError:
                    log.info("%s: dropped a binary frame that is not UTF-8", socket)
                    continue
            socket.put_server_msg(message)

    def _send_loop(self, socket: Socket, websocket: Any) -> None:
        while True:
            packets, closed = _live(socket.get_multiple_client_msgs())
            try:
                for pkt in packets:
                    websocket.send(pkt)
            except (WebSocketError, OSError) as exc:
                log.debug("%s: websocket send failed: %s", socket, exc)
                closed = True
            if closed:
                if not websocket.closed:
                    websocket.close()
                return

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
