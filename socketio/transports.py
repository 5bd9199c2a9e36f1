"""The transports: moving packets between a virtual socket and one kind of connection.

Each class does I/O only. Incoming bodies go through :mod:`socketio.payload`
into :meth:`~socketio.outbox.Outbox.put_server_msg`; outgoing packets come from
:meth:`~socketio.outbox.Outbox.get_multiple_client_msgs` and leave framed by the same module.
Polling transports (here) return a :class:`~socketio.protocol.Response` value
that the handler sends; the websocket transports (:mod:`socketio.ws_transport`,
re-exported here) run their connection until it ends, writing packets
straight to it and handling those they read in their own greenlet. What they
share is in :mod:`socketio.transport_base`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Optional

import gevent
import gevent.queue

from . import payload
from . import payload as _payload  # decode_payload() shadows the name
from .exceptions import PayloadError
from .fairness import pause
from .metrics import utf8_size
from .protocol import JAVASCRIPT, NOSNIFF, Response, cors_headers, text_response
from .seams import TransportHost
from .transport_base import NOOP, NOT_HANDSHAKEN, PACKETS_PER_TURN, BaseTransport
from .ws_transport import FlashSocketTransport, WebsocketTransport

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


def _live(messages: list[Optional[str]]) -> tuple[list[str], bool]:
    """Split queued messages into packets and a flag telling whether the socket closed."""
    packets = [m for m in messages if m is not None]
    return packets, len(packets) != len(messages)


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
        """Serve one polling request: GET waits for packets, POST delivers them, OPTIONS answers CORS."""
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

    def _get(self, session: Socket) -> Response:
        session.active_requests += 1
        deadlines = self.deadlines
        try:
            if deadlines is None:
                messages = session.get_multiple_client_msgs(timeout=self.config.poll_hold)
            else:
                # The server's one timer ends the wait (Empty) after poll_hold:
                # no timer of its own to make, start, stop and close.
                key = deadlines.start(self.config.poll_hold)
                try:
                    messages = session.get_multiple_client_msgs()
                finally:
                    deadlines.end(key)
        except gevent.queue.Empty:
            messages = []
        finally:
            session.active_requests -= 1
            session.heartbeat()
        packets, _ = _live(messages)
        response = text_response(200, self.answer(packets), self.origin, self.content_type)
        if self.traffic is not None:
            self.traffic.sent(packets, len(response.body))  # type: ignore[arg-type]  # (bytes)
        return response

    def _post(self, session: Socket) -> Response:
        try:
            text = self.handler.read_body()
            packets = self.decode_payload(self.unwrap(text))
        except PayloadError as exc:
            log.info("%s: refused POST body: %s", session, exc)
            return text_response(exc.status_hint, str(exc), self.origin)
        if self.traffic is not None:
            self.traffic.received(len(packets), utf8_size(text))
        for count, pkt in enumerate(packets, 1):
            session.put_server_msg(pkt)
            if not count % PACKETS_PER_TURN:
                pause()
        del packets, text  # (not kept while the handlers catch up)
        # The 0.9 client posts again once answered: answering when the
        # handlers have caught up holds it back, as TCP holds a websocket's.
        self._wait_for_handlers(session)
        session.heartbeat()
        return text_response(200, "1", self.origin)


class JSONPolling(XHRPollingTransport):
    """Long-polling through ``<script>`` tags (GET) and hidden forms (POST)."""

    name = "jsonp-polling"
    content_type = JAVASCRIPT

    def __init__(self, handler: TransportHost, config: Any, index: int = 0) -> None:
        super().__init__(handler, config)
        self.index = index

    def answer(self, packets: list[str]) -> str:
        """The script of a GET's answer: the payload wrapped in ``io.j[index](...)``."""
        return payload.jsonp_payload(self.index, packets or [NOOP])

    def unwrap(self, body: str) -> str:
        """Take the payload out of the hidden form's ``d=`` field."""
        return payload.decode_jsonp_form(body)

    def not_handshaken(self) -> Response:
        """The answer for an unknown session, wrapped as a script."""
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

    def _get(self, session: Socket) -> Response:
        headers = [
            ("Content-Type", self.stream_content_type),
            ("Cache-Control", "no-store"),
            NOSNIFF,
            *cors_headers(self.origin),
        ]
        return Response(200, headers, self._stream(session))

    def _stream(self, session: Socket) -> Iterator[bytes]:
        session.active_requests += 1
        self._arm_dropper(session)
        try:
            first = self.first_chunk().encode("utf-8")
            if self.traffic is not None:
                self.traffic.sent((), len(first))
            yield first
            while True:
                try:
                    messages = session.get_multiple_client_msgs(
                        timeout=self.config.heartbeat_interval
                    )
                except gevent.queue.Empty:
                    messages = [NOOP]
                packets, closed = _live(messages)
                if packets:
                    chunk = self.chunk(self.encode_payload(packets)).encode("utf-8")
                    if self.traffic is not None:
                        self.traffic.sent(packets, len(chunk))
                    yield chunk
                if closed:
                    return
        finally:
            self._disarm_dropper()
            session.active_requests -= 1
            session.heartbeat()

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
        """The document's start, padded so the browser renders at once."""
        return payload.htmlfile_preamble()

    def chunk(self, text: str) -> str:
        """One ``<script>`` carrying ``text``."""
        return payload.htmlfile_chunk(text)


class XHRMultipartTransport(_StreamingTransport):
    """A ``multipart/x-mixed-replace`` stream, one part per batch (legacy)."""

    name = "xhr-multipart"
    stream_content_type = f'multipart/x-mixed-replace;boundary="{payload.MULTIPART_BOUNDARY}"'

    def first_chunk(self) -> str:
        """The opening boundary of the multipart stream."""
        return f"--{payload.MULTIPART_BOUNDARY}\r\n"

    def chunk(self, text: str) -> str:
        """One part carrying ``text``."""
        return payload.multipart_part(text)
