"""The websocket connection: gevent-websocket's ``WebSocket`` with a leaner, bounded I/O path.

:class:`BoundedWebSocket` keeps gevent-websocket's API (it is what
``environ['wsgi.websocket']`` holds, on Socket.IO routes and on the
application's own) and replaces its I/O:

* Frames are parsed by :func:`socketio.wsframe.parse_frame` from whole
  chunks received from the socket, instead of ``read(2)``, ``read(4)``,
  ``read(n)`` through a buffered file and a ``Header`` object per frame; a
  frame announcing more than what is left of ``max_message_size`` is
  refused (1009) before its payload is read.
* What a connection holds is bounded by its limits, however the client
  cuts its bytes: a frame larger than a read is unmasked piece by piece as
  it arrives, fragments gather in one ``bytearray`` (not a list of pieces,
  each an object of its own), and a message may span at most
  ``max_message_frames`` frames, control frames among them (more: 1009).
* A connection whose client never stops sending does a bounded amount of
  work (:data:`WORK_PER_TURN`) and then lets the others run; pongs wait
  while the client does not read what it is sent (only the latest is kept,
  as RFC 6455 section 5.5.3 allows).
* Frames are written in order by one writer at a time. :meth:`offer` never
  blocks: it sends what the kernel takes at once and leaves the rest to a
  greenlet started only while the client is slow to read, so a Socket.IO
  session needs no writer greenlet of its own and a broadcast never waits
  for its slowest member. :meth:`send` still blocks until its frame is
  written (the back-pressure gevent-websocket's users count on).
* The first frame offered in a turn of the event loop is sent at once; any
  more offered in the same turn are sent together, with one system call,
  when the turn ends (when the greenlet that offered them waits for
  something): a burst of broadcasts reaches each member in two writes
  instead of one per broadcast, and a lone answer is not delayed.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Union

import gevent
from gevent.exceptions import ConcurrentObjectUseError
from geventwebsocket.exceptions import ProtocolError, WebSocketError
from geventwebsocket.websocket import Stream
from greenlet import greenlet

from . import fairness, wsframe
from .exceptions import FrameError
from .geventsocket import read_watcher
from .peerlog import server_logs
from .runtime import DIRECT_HUB_SWITCH
from .wswriter import CORK_SIZE, FrameWriter

__all__ = ["CORK_SIZE", "BoundedWebSocket"]

log = logging.getLogger(__name__)
#: bytes asked of the socket per read
READ_SIZE = 65536


#: work a connection does before it lets the others run, in bytes read
#: plus :data:`FRAME_COST` per frame (without it, a client whose socket
#: always has data would be served alone for as long as it kept sending)
WORK_PER_TURN = 256 * 1024

#: what a frame counts for besides its bytes: handling a small message (a
#: heartbeat, an event) costs about what reading a few KiB does; so at
#: most 64 small frames are handled per turn
FRAME_COST = 4096


def _frames_of(handler: Any) -> int:
    """``max_message_frames`` of a handler that did not pass it: its config's, else 1024.

    (Only for a websocket built by hand, or by a handler other than
    :class:`~socketio.handler.SocketIOHandler`, which passes its own.)
    """
    config = getattr(handler, "config", None)
    return int(getattr(config, "max_message_frames", 1024))


#: the greenlet's own switch (see socketio.runtime.DIRECT_HUB_SWITCH)
_switch = greenlet.switch


class _Readiness:
    """The connection's read watcher, started at its first wait and kept started between messages.

    Starting and stopping gevent's watcher around every wait costs a new
    handle and a few objects each time on PyPy (about 6 % of a websocket
    echo there, see ``benchmarks/LOG.md``). Kept started, its callback,
    :meth:`fire`, runs in the hub whenever the connection is readable: it
    resumes the greenlet waiting for that, or, if none waits (the reader is
    handling a message), stops the watcher (libev would call it again on
    every turn of the loop) and notes that bytes are waiting.

    The watcher is the socket's own (``_read_event``). When the socket is
    closed, gevent's ``cancel_wait`` throws its error into the ``__self__``
    of the watcher's callback (for gevent's own waits, a greenlet's
    ``switch``): here :meth:`throw`, which throws it into the waiting
    greenlet, as gevent would.
    """

    __slots__ = ("ready", "waiter", "watcher")

    def __init__(self, watcher: Any) -> None:
        self.watcher = watcher
        #: the greenlet waiting for the connection to be readable
        self.waiter: Any = None
        #: the connection became readable while no greenlet waited
        self.ready = False

    def arm(self) -> None:
        """Before a wait: start the watcher unless it is started already (by this wait's predecessors)."""
        watcher = self.watcher
        callback = watcher.callback
        if callback is None:
            watcher.start(self.fire)
        elif self.waiter is not None or getattr(callback, "__self__", None) is not self:
            raise ConcurrentObjectUseError(f"another greenlet is reading fd {watcher.fd}")

    def fire(self) -> None:
        """The connection is readable (the watcher's callback, in the hub)."""
        waiter = self.waiter
        if waiter is not None:
            waiter.switch()
        else:
            self.watcher.stop()
            self.ready = True

    def throw(self, *exc: Any) -> None:
        """Raise ``exc`` in the waiting greenlet (gevent's ``cancel_wait``, the socket closed)."""
        waiter = self.waiter
        if waiter is not None:
            waiter.throw(*exc)
        else:
            self.watcher.stop()
            self.ready = True  # (the next read finds the connection closed)

    def stop(self) -> None:
        """Stop watching (the connection is no longer read, or is about to close)."""
        if self.waiter is None:
            self.watcher.stop()


class BoundedWebSocket(FrameWriter):
    """A server websocket over the handler's connection, refusing messages over a size limit.

    Args:
        environ: the request's WSGI environ.
        stream: gevent-websocket's ``Stream`` over the handler (kept for its API).
        handler: the pywsgi handler that accepted the upgrade.
        max_message_size: the largest message accepted, fragments counted
            together; a larger one closes the connection with 1009.
        max_message_frames: the most frames one message may span, control
            frames among it counted; more closes the connection with 1009.
            :class:`~socketio.handler.SocketIOHandler` passes its config's;
            if not given, ``handler.config.max_message_frames`` when the
            handler has a config (a :class:`~socketio.config.Config`), else 1024.
    """

    # Attributes of gevent-websocket's class, untyped there.
    closed: bool
    stream: Any
    raw_read: Any
    raw_write: Any
    environ: Any

    def __init__(
        self,
        environ: dict[str, Any],
        stream: Stream,
        handler: Any,
        max_message_size: int,
        max_message_frames: Optional[int] = None,
    ) -> None:
        super().__init__(environ, stream, handler)
        # gevent-websocket's per-byte UTF-8 automaton: unused (see validate_utf8)
        self.utf8validator = None
        self.max_message_size = max_message_size
        self.max_message_frames: int = (
            _frames_of(handler) if max_message_frames is None else max_message_frames
        )
        self._sock = handler.socket
        # Bytes the client sent right after its upgrade request may be in
        # pywsgi's buffered reader already: they are taken now, and from here
        # on the socket is read directly (the handler can free the reader).
        # gevent-websocket's raw_read (its read_frame) reads through this
        # websocket too.
        self._received: Union[bytes, bytearray] = self._buffered(handler.rfile)
        self._at = 0  # where the next frame starts in it
        self._budget = WORK_PER_TURN  # work left before letting the others run
        self.raw_read = stream.read = self._read_exact
        # Waiting for readability before reading saves the read that would
        # fail with EAGAIN (a system call per message) when the client has
        # sent nothing yet, which is the usual case for a request/answer
        # exchange; after a full read more is likely waiting: read at once.
        self._hub = gevent.get_hub()
        # gevent's socket has a watcher for this already (its own reads wait on it)
        readable = read_watcher(self._sock)
        self._readiness = _Readiness(
            readable if readable is not None else self._hub.loop.io(self._sock.fileno(), 1)
        )
        self._wait_first = True
        self._known_readable = False  # wait_message has seen the connection readable
        # the greenlet waiting for the first bytes of a message (nothing of it read yet)
        self._boundary_waiter: Any = None
        self._init_writer()
        #: the connection failed while writing: nothing more can be sent
        self.dead = False
        #: the client has sent its close frame, or its end of the connection is closed
        self.peer_closed = False

    # -- reading ------------------------------------------------------------

    def _read_exact(self, size: int) -> bytes:
        """``size`` bytes from the connection (fewer at its end), past what is already received."""
        data = bytearray(memoryview(self._received)[self._at :])
        self._at = 0
        while len(data) < size:
            chunk = self._recv()
            if not chunk:
                break
            data += chunk
        self._received = bytes(data[size:])
        return bytes(data[:size])

    def _recv(self, at_boundary: bool = False) -> bytes:
        if self._known_readable:
            self._known_readable = False
        elif self._wait_first or at_boundary:
            self._wait_readable(at_boundary)
        else:
            # (after a full read: more is likely waiting, read at once; if
            # not, the socket's recv waits with the watcher, as gevent does)
            self._readiness.stop()
        # the gevent socket is untyped; recv gives bytes (a typed local, no call)
        data: bytes = self._sock.recv(READ_SIZE)
        self._wait_first = len(data) < READ_SIZE
        return data

    def wait_message(self) -> None:
        """Return when a message can be read: at once if bytes are held, else once some arrive.

        For a reader that loops on :meth:`receive`: waiting here, not inside
        it, parks its greenlet, for as long as the client is quiet, five
        Python frames shallower (on CPython 3.12+ greenlet gives every frame
        of a parked greenlet a frame object; see ``benchmarks/RESULTS.md``).
        :meth:`interrupt_wait` ends this wait too.
        """
        if not self._received and not self._known_readable and not self.closed:
            # _wait_readable(True), written out: one frame fewer on the stack
            # of every idle websocket's greenlet (see socketio.runtime)
            readiness = self._readiness
            if readiness.ready:
                readiness.ready = False
                self._known_readable = True
                return
            readiness.arm()
            current = gevent.getcurrent()
            readiness.waiter = self._boundary_waiter = current
            self._budget = WORK_PER_TURN  # (the others run while this waits)
            try:
                hub = self._hub
                if DIRECT_HUB_SWITCH and getattr(current, "switch_out", None) is None:
                    _switch(hub)
                else:
                    hub.switch()
            finally:
                readiness.waiter = self._boundary_waiter = None
            self._known_readable = True

    def _wait_readable(self, at_boundary: bool) -> None:
        """Park this greenlet until the connection is readable (or something is thrown in).

        What ``hub.wait`` does, without its ``Waiter``: an idle websocket's
        greenlet is parked here for as long as its client is quiet, and each
        C-level call on the way to the switch is part of the C stack greenlet
        keeps a copy of (``hub.wait`` and its ``Waiter`` would add to every
        idle connection what ``benchmarks/RESULTS.md`` measures).
        """
        readiness = self._readiness
        if readiness.ready:
            readiness.ready = False
            return
        readiness.arm()
        current = gevent.getcurrent()
        readiness.waiter = current
        self._boundary_waiter = current if at_boundary else None
        self._budget = WORK_PER_TURN  # (the others run while this waits)
        try:
            self._hub.switch()
        finally:
            readiness.waiter = self._boundary_waiter = None

    def stop_reading(self) -> None:
        """Stop watching the connection for bytes: nothing reads it any more (it is about to close).

        The read watcher stays started between messages (see ``_Readiness``);
        a connection's owner calls this before closing the socket itself.
        """
        self._readiness.stop()

    def _pause(self) -> None:
        """Let the other connections run, then go on: this one has done a turn's work."""
        fairness.pause()
        self._budget = WORK_PER_TURN

    def interrupt_wait(self, reader: Any, exc: BaseException) -> None:
        """Throw ``exc`` into ``reader`` if it waits for a message of which nothing is read.

        Only there can reading stop without losing part of a frame; a reader
        anywhere else is left alone. Call it from the hub or another greenlet.
        """
        if self._boundary_waiter is reader and reader is not gevent.getcurrent():
            reader.throw(exc)

    def await_close(self) -> None:
        """After our close frame: read and drop frames until the client's close frame or EOF."""
        try:
            while not self.peer_closed:
                if self._next_frame(self.max_message_size, after_close=True)[1] == wsframe.OP_CLOSE:
                    self.peer_closed = True
        except (WebSocketError, FrameError, OSError):
            self.peer_closed = True
        self._readiness.stop()

    def _buffered(self, rfile: Any) -> bytes:
        """What pywsgi's reader holds, or what one read that does not block finds.

        (A blocking ``read1`` would keep a buffer of ``READ_SIZE`` bytes
        allocated for as long as an idle client sends nothing.)
        """
        sock = self._sock
        timeout = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            held = rfile.peek(1)
        except OSError:
            held = b""
        finally:
            sock.settimeout(timeout)
        return rfile.read1(len(held)) if held else b""

    def _next_frame(
        self, limit: int, at_boundary: bool = False, after_close: bool = False
    ) -> wsframe.ParsedFrame:
        """The next frame, whose payload may be at most ``limit`` bytes.

        Its payload is ``bytes``, or a ``bytearray`` for a frame larger than
        a read (see :meth:`_stream_frame`).
        """
        # A read may bring many frames: each is parsed where it starts in the
        # buffer, which is only let go of once they are all taken (slicing
        # off each frame would copy the rest of the buffer every time).
        data = self._received
        at = self._at
        while True:
            # (nothing held, the usual case of a message: a header's two bytes are needed)
            parsed = wsframe.parse_frame(data, limit, at) if data else 2
            if isinstance(parsed, tuple):
                end = parsed[3]
                if end < len(data):
                    self._received = data
                    self._at = end
                else:
                    self._received = b""
                    self._at = 0
                budget = self._budget - (end - at) - FRAME_COST
                self._budget = budget
                if budget < 0:
                    self._pause()
                return parsed
            if parsed - at > READ_SIZE:
                return self._stream_frame(data, at, parsed, after_close)
            held = len(data) - at
            if self.closed and not after_close:
                raise WebSocketError("websocket closed")
            chunk = self._recv(at_boundary and not held)
            if not chunk:
                self.peer_closed = True
                raise WebSocketError("Unexpected EOF reading a frame")
            if not held:
                data = chunk  # (a frame in one read, the usual case: not copied)
            else:
                if at or type(data) is not bytearray:
                    # The part of a frame held so far, in a buffer of its own
                    # that grows by each read: appending to a bytes object
                    # would copy it every time, and a list of the reads
                    # would cost an object per read (a client sending one
                    # byte per TCP segment would make that dozens of bytes
                    # per byte, see benchmarks/RESULTS.md).
                    data = bytearray(memoryview(data)[at:])
                    self._received = data
                    self._at = 0
                data += chunk
            at = 0

    def _stream_frame(
        self, data: Union[bytes, bytearray], at: int, end: int, after_close: bool
    ) -> wsframe.ParsedFrame:
        """The frame at ``at`` in ``data``, ending at ``end``: larger than a read.

        Its payload is unmasked piece by piece as the reads bring it, into
        the ``bytearray`` returned, so the masked bytes are never held whole
        beside it; the reads count toward the connection's turn as frames do.
        """
        fin, opcode, payload_at, mask = wsframe.frame_header(data, at)
        length = end - payload_at
        payload = bytearray(wsframe.unmask(data[payload_at:], mask))
        del data  # (the read it came in is let go of)
        self._received = b""
        self._at = 0
        rest = b""
        while len(payload) < length:
            if self.closed and not after_close:
                raise WebSocketError("websocket closed")
            chunk = self._recv()
            if not chunk:
                self.peer_closed = True
                raise WebSocketError("Unexpected EOF reading a frame")
            missing = length - len(payload)
            if len(chunk) > missing:
                rest = chunk[missing:]
                chunk = chunk[:missing]
            payload += wsframe.unmask_from(chunk, mask, len(payload))
            self._budget -= len(chunk)
            if self._budget < 0:
                self._pause()
        self._received = rest  # (the next frame starts there, at 0)
        self._budget -= FRAME_COST
        return fin, opcode, payload, 0

    def read_message(self) -> Any:
        """The next text (``str``) or binary (``bytearray``) message; ``None`` after a close.

        Pings are answered and pongs ignored on the way. Raises
        ``WebSocketError`` at the end of the connection, ``FrameError`` for
        a frame or message the protocol or a limit refuses, and
        ``ProtocolError`` or ``UnicodeError`` as gevent-websocket does.
        """
        opcode: Optional[int] = None
        message: Optional[bytearray] = None  # the fragments so far
        size = 0
        frames = 1  # frames since the message began, control frames among them
        limit = self.max_message_size
        while True:
            try:
                fin, frame_opcode, payload, _ = self._next_frame(limit - size, opcode is None)
            except FrameError as exc:
                if size and exc.close_code == 1009:  # (the limit passed was what was left)
                    raise FrameError(f"message over {limit} bytes", close_code=1009) from None
                raise
            if frame_opcode == wsframe.OP_TEXT or frame_opcode == wsframe.OP_BINARY:
                if opcode is not None:
                    raise ProtocolError(f"opcode {frame_opcode} inside a fragmented message")
                opcode = frame_opcode
            else:
                if frame_opcode == wsframe.OP_CONTINUATION:
                    if opcode is None:
                        raise ProtocolError(
                            "Unexpected frame with opcode=0 (no message to continue)"
                        )
                elif frame_opcode == wsframe.OP_CLOSE:
                    self.peer_closed = True
                    self.handle_close(None, payload)
                    return None
                else:  # a ping or a pong
                    if frame_opcode == wsframe.OP_PING:
                        self._pong(payload)
                    if opcode is None:
                        continue  # (between messages: a turn's budget bounds those)
                # Empty or tiny fragments would otherwise make a message of
                # any length cost its sender almost nothing and us a frame's
                # work each.
                frames += 1
                if frames > self.max_message_frames:
                    raise FrameError(
                        f"message of more than {self.max_message_frames} frames",
                        close_code=1009,
                    )
                if frame_opcode != wsframe.OP_CONTINUATION:
                    continue
            size += len(payload)
            if not fin:
                if message is None:
                    message = bytearray(payload)
                else:
                    message += payload
                continue
            if message is not None:
                message += payload
                payload = message
            if opcode != wsframe.OP_TEXT:
                return payload if type(payload) is bytearray else bytearray(payload)
            try:
                return payload.decode("utf-8")
            except UnicodeDecodeError:
                self.close(1007)
                raise

    def close(self, code: int = 1000, message: Any = b"") -> None:
        """Send a close frame and mark the websocket closed (see ``FrameWriter.close``).

        The read watcher is stopped unless a greenlet waits on it (one that
        reads the client's close frame, :meth:`await_close`, starts it again).
        """
        super().close(code, message)
        self._readiness.stop()

    def handle_close(self, header: Any, payload: wsframe.Buffer) -> None:
        """Answer the client's close frame with its status code (1000 if it gave none).

        Raises:
            FrameError: the close frame is malformed (a 1-byte payload, a
                code no peer may send, a reason that is not UTF-8: see
                :func:`socketio.wsframe.parse_close`); the connection then
                fails with the error's code instead.
        """
        code, _reason = wsframe.parse_close(payload)
        self.close(1000 if code is None else code)

    def _pong(self, payload: wsframe.Buffer) -> None:
        """Answer a ping, without letting pongs pile up for a client that does not read.

        While frames wait for the client to read, only the latest ping is
        remembered, and answered once they are written (RFC 6455 section
        5.5.3 lets an endpoint answer only the most recent of several pings).
        """
        if self._writer is not None:
            self._late_pong = payload
        else:
            self.offer(wsframe.encode_frame(payload, wsframe.OP_PONG))

    def receive(self) -> Any:
        """Read and return the next message; ``None`` once the connection is closed or refused.

        A protocol violation closes the connection with 1002, invalid UTF-8
        with 1007, a message over the limit with 1009 (each logged once, at
        INFO).

        Raises:
            WebSocketError: the websocket was already closed, or the
                connection ended in the middle of a frame.
        """
        if self.closed:
            raise WebSocketError("Connection is already closed")
        try:
            return self.read_message()
        except FrameError as exc:
            text = str(exc)
            self._peer_log(_kind(text), "closing a websocket from %s: %s", self._peer(), text)
            self.close(exc.close_code, b"message too big" if exc.close_code == 1009 else b"")
        except UnicodeError as exc:
            self._peer_log(
                "invalid UTF-8",
                "closing a websocket from %s: invalid UTF-8 (%s)",
                self._peer(),
                str(exc),
            )
            self.close(1007)
        except ProtocolError as exc:
            text = str(exc)
            self._peer_log(
                _kind(text), "closing a websocket from %s: protocol error: %s", self._peer(), text
            )
            self.close(1002)
        except OSError:
            self.peer_closed = True
            self.close()
        return None

    def validate_utf8(self, payload: Any) -> None:
        """Skip gevent-websocket's pure-Python UTF-8 automaton (per byte, twice per message).

        A text message is decoded strictly once complete, which closes the
        connection with 1007 on invalid UTF-8, as the automaton did.
        """

    def _peer_log(self, kind: str, message: str, *args: Any) -> bool:
        """Log a client's mistake once per interval, counted per server (see ``server_logs``)."""
        server = getattr(getattr(self, "handler", None), "server", None)
        return server_logs(server).websocket(kind, message, *args)


def _kind(text: str) -> str:
    """The kind of a refusal, for the peer log: its text with the numbers left out."""
    return "websocket: " + "".join(c for c in text if not c.isdigit())[:60]
