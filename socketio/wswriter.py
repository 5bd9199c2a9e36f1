"""The writing half of :class:`~socketio.wsconn.BoundedWebSocket`: ordered, never blocking.

:meth:`FrameWriter.offer` sends what the kernel takes at once and leaves the
rest to a writer greenlet started only while the client is slow to read; the
frames offered in one turn of the event loop after its first are sent
together when the turn ends (see :mod:`socketio.wsconn` for the whole design).
"""

from __future__ import annotations

import collections
import logging
import struct
from typing import Any, Optional, Union

import gevent
from geventwebsocket.exceptions import WebSocketError
from geventwebsocket.websocket import WebSocket

from . import wsframe

__all__ = ["CORK_SIZE", "FrameWriter"]

# (the websocket's lines, under the name they always had)
log = logging.getLogger("socketio.wsconn")

#: past this many bytes held for the end of the loop's turn, they are sent at once
CORK_SIZE = 65536

_Chunk = Union[bytes, memoryview]


class FrameWriter(WebSocket):
    """gevent-websocket's ``WebSocket`` writing encoded frames in order, without blocking.

    A subclass calls ``_init_writer()`` from its ``__init__``, once it has
    set ``_sock`` (the connection) and ``_hub`` (gevent's hub).
    """

    # Attributes of gevent-websocket's class, untyped there.
    closed: bool
    stream: Any
    raw_read: Any
    raw_write: Any
    environ: Any
    _sock: Any
    _hub: Any

    def _init_writer(self) -> None:
        """Set the writer's state: nothing waiting, nothing held."""
        # what the kernel refused, in order (made when first needed: most
        # connections never have any)
        self._out: Optional[collections.deque[_Chunk]] = None
        self._writer: Optional[gevent.Greenlet] = None
        # frames held until the loop's turn ends, and the callback that sends them
        self._corked: list[bytes] = []
        self._corked_size = 0
        self._out_size = 0  # bytes in _out
        # the latest ping's payload while _out waits: answered once it is written
        self._late_pong: Optional[wsframe.Buffer] = None
        self._uncork_later: Any = None
        self._sent_at = 0.0  # the loop's time (one value per turn) of the last send

    def _peer(self) -> str:
        address = getattr(getattr(self, "handler", None), "client_address", None)
        return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else "?"

    # -- writing ------------------------------------------------------------

    @property
    def backlog(self) -> int:
        """Frames (or the rest of one) the kernel refused, waiting for the client to read."""
        out = self._out
        return len(out) if out is not None else 0

    @property
    def backlog_bytes(self) -> int:
        """Bytes offered and not yet taken by the kernel: held for the turn's end, or refused."""
        return self._corked_size + self._out_size

    def offer(self, frame: bytes) -> None:
        """Write an encoded frame in turn, without blocking.

        The first frame of a turn of the event loop is sent at once; the
        next ones are held and sent together when the turn ends (at once
        past :data:`CORK_SIZE` bytes). What the kernel does not take waits,
        in order, for a writer greenlet (started for it, ended when the
        backlog is written). After a write error the connection is
        ``dead`` and frames are dropped.
        """
        if self.dead:
            return
        if self._writer is not None:
            self._out.append(frame)  # type: ignore[union-attr]  # made with the writer
            self._out_size += len(frame)
            return
        corked = self._corked
        if not corked:
            turn = self._hub.loop.now()
            if turn != self._sent_at:
                self._sent_at = turn
                self._send(frame)
                return
        corked.append(frame)
        self._corked_size += len(frame)
        if self._corked_size >= CORK_SIZE:
            self.flush()
        elif self._uncork_later is None:
            self._uncork_later = self._hub.loop.run_callback(self._uncork)

    def _uncork(self) -> None:
        self._uncork_later = None
        self.flush()

    def flush(self) -> None:
        """Send the frames held for the end of this turn of the event loop now."""
        later = self._uncork_later
        if later is not None:
            later.stop()
            self._uncork_later = None
        corked = self._corked
        if not corked:
            return
        data = corked[0] if len(corked) == 1 else b"".join(corked)
        corked.clear()
        self._corked_size = 0
        if not self.dead:
            self._send(data)

    def _send(self, data: bytes) -> None:
        try:
            sent = self._sock.send(data, 0, 0.0)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._died(exc)
            return
        if sent < len(data):
            self._out = collections.deque((memoryview(data)[sent:],))
            self._out_size = len(data) - sent
            self._writer = gevent.spawn(self._write_backlog)

    def _write_backlog(self) -> None:
        out = self._out
        assert out is not None
        try:
            while out:
                self._sock.sendall(out[0])
                self._out_size -= len(out.popleft())
                if not out and self._late_pong is not None:
                    out.append(wsframe.encode_frame(self._late_pong, wsframe.OP_PONG))
                    self._out_size += len(out[0])
                    self._late_pong = None
        except OSError as exc:
            self._died(exc)
        finally:
            self._writer = None
            self._out = None
            self._out_size = 0

    def _died(self, exc: BaseException) -> None:
        log.debug("websocket to %s: write failed: %s", self._peer(), exc)
        self.dead = True
        self._out = None
        self._out_size = 0
        self._late_pong = None
        self._corked.clear()
        self._corked_size = 0

    def send_frame(self, message: Any, opcode: int) -> None:
        """Send one frame and wait until it is written (gevent-websocket's contract).

        Raises:
            WebSocketError: the websocket is closed or its connection failed.
        """
        if self.closed or self.dead:
            raise WebSocketError("Socket is dead" if self.dead else "Connection is already closed")
        if isinstance(message, str):
            message = message.encode("utf-8")
        elif not isinstance(message, bytes):
            message = bytes(message or b"")
        self.offer(wsframe.encode_frame(message, opcode))
        self.flush()
        writer = self._writer
        if writer is not None and writer is not gevent.getcurrent():
            writer.join()
        if self.dead:
            raise WebSocketError("Socket is dead")

    def close(self, code: int = 1000, message: Any = b"") -> None:
        """Send a close frame with ``code`` and ``message`` and mark the websocket closed.

        Does not block: the frame is written after what is already waiting
        (gevent-websocket 0.10.1 writes ``str(message)`` as the whole payload
        and drops the status code; this writes the frame RFC 6455 describes).
        The TCP connection is left to its owner.
        """
        if self.closed:
            return
        if isinstance(message, str):
            message = message.encode("utf-8")
        self.offer(wsframe.encode_frame(struct.pack("!H", code) + bytes(message or b""), 0x8))
        self.flush()  # whoever closed the websocket may close the connection next
        self.closed = True
        self.stream = None
        self.raw_write = None
        self.raw_read = None
        self.environ = None
