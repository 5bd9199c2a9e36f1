"""A session's two queues: packets for the client (out) and from it (in).

Both queues are made on first use: a websocket session writes its packets
straight to its connection (an :class:`~socketio.seams.Output` attached by
its transport) and, while its handlers do not wait, handles what it reads as
it is read, so it never needs either. A client that lets too many packets
pile up is a slow consumer and is disconnected (:meth:`Outbox.put_client_msg`).
A volatile packet (:meth:`Outbox.put_volatile_msg`) is never queued: it goes
only if the client can take it now, and is dropped otherwise.
"""

from __future__ import annotations

from typing import Any, Optional

import gevent
import gevent.event
import gevent.queue

from .seams import Output, count_volatile_drop, session_logs
from .session_base import SessionBase
from .state import ENDED

__all__ = ["Outbox"]


class Outbox(SessionBase):
    """The queues of a :class:`~socketio.virtsocket.Socket` (one of its parts).

    A part, not a separate object: its state lives in the session's slots.
    ``put_client_msg`` is the hottest path of the library (every packet a
    websocket session sends): a separate object would add a call to it.
    """

    __slots__ = ()

    @property
    def client_queue(self) -> gevent.queue.Queue:
        """Encoded packets waiting for the client (made on first use).

        A websocket session writes its packets straight to its connection and
        never needs one.
        """
        queue = self._client_queue
        if queue is None:
            queue = self._client_queue = gevent.queue.Queue()
        return queue

    @client_queue.setter
    def client_queue(self, queue: gevent.queue.Queue) -> None:
        self._client_queue = queue

    @property
    def server_queue(self) -> gevent.queue.Queue:
        """Raw packets from the client waiting for the receiver loop (made on first use).

        A websocket session whose handlers do not wait handles its packets as
        they are read and never needs one.
        """
        queue = self._server_queue
        if queue is None:
            queue = self.server_queue = gevent.queue.Queue()
        return queue

    @server_queue.setter
    def server_queue(self, queue: gevent.queue.Queue) -> None:
        self._server_queue = queue
        if self._arrival is not None:
            self._arrival.set()

    # -- from the client ----------------------------------------------------

    def put_server_msg(self, msg: Optional[str]) -> None:
        """Queue a raw packet that arrived from the client (for the receiver loop)."""
        self.heartbeat()
        queue = self.server_queue
        if msg:
            self._received_bytes = len(msg) + (self._received_bytes if queue.qsize() else 0)
        queue.put_nowait(msg)

    @property
    def server_backlog(self) -> tuple[int, int]:
        """``(packets, characters)`` from the client waiting for the receiver loop.

        A transport reading faster than the handlers take packets waits while
        this is over ``max_queue_size`` or ``max_queue_bytes`` (the client is
        held back by TCP, or by its next POST's answer coming later).
        """
        queue = self._server_queue
        waiting = queue.qsize() if queue is not None else 0
        return waiting, self._received_bytes if waiting else 0

    def get_server_msg(self, **kwargs: Any) -> Optional[str]:
        """Take the next raw packet from the client (``block``/``timeout`` as ``Queue.get``)."""
        # gevent's Queue is untyped; this one holds str (a typed local, no call)
        msg: Optional[str] = self.server_queue.get(**kwargs)
        if msg:
            self._received_bytes -= len(msg)
        return msg

    # -- for the client -----------------------------------------------------

    def put_client_msg(self, msg: Optional[str]) -> None:
        """Queue an encoded packet for the client.

        A client that lets more than ``config.max_queue_size`` packets, or
        more than ``config.max_queue_bytes`` of them, pile up is a slow
        consumer: it is disconnected (the packet is dropped), so it cannot
        grow the server's memory without bound. (Bytes are counted as
        characters of the encoded packets; one packet alone may be larger
        than the limit.)
        """
        if msg is None:
            self.send_raw(None)
            return
        config = self.config
        output = self._output
        if output is None:
            queue = self.client_queue
            waiting = queue.qsize()
            if not waiting:
                self._queued_bytes = len(msg)
                queue.put_nowait(msg)
                return
            queued = self._queued_bytes + len(msg)
            if waiting < config.max_queue_size and queued <= config.max_queue_bytes:
                self._queued_bytes = queued
                queue.put_nowait(msg)
                return
        else:
            waiting = output.backlog
            if not waiting:
                output.write(msg)
                return
            backlog_bytes = output.backlog_bytes
            queued = backlog_bytes + len(msg)
            if waiting < config.max_queue_size and queued <= config.max_queue_bytes:
                output.write(msg)
                return
        self._slow_consumer(waiting, queued - len(msg))

    def put_volatile_msg(self, msg: str) -> bool:
        """Hand an encoded packet to the client only if it can take it now; drop it otherwise.

        The reference server's ``volatile`` flag. The client can take it now
        when the session is connected, nothing is queued for it (a volatile
        packet never overtakes nor joins a queue) and its transport is ready:
        a websocket with nothing in its backlog (what the kernel refused), a
        poll (xhr or JSONP) held open, a stream (htmlfile, xhr-multipart)
        waiting for packets rather than writing. Otherwise the packet is
        dropped and counted in ``volatile_dropped``, the session's and its
        server's.

        Returns:
            Whether the packet was handed on.
        """
        if self.connected:
            output = self._output
            if output is None:
                queue = self._client_queue
                if queue is not None and self._takers and not queue.qsize():
                    self._queued_bytes = len(msg)
                    queue.put_nowait(msg)
                    return True
            elif not output.backlog:
                output.write(msg)
                return True
        # (no log line: dropping is what the caller asked for)
        self.volatile_dropped += 1
        count_volatile_drop(self.server)
        return False

    def _slow_consumer(self, packets: int, size: int) -> None:
        # One kill per session: until it runs, more packets keep coming
        # (a broadcast loop), and each would spawn another kill and log.
        if self.state in ENDED or self._kill_pending:
            return
        self._kill_pending = True
        session_logs(self.server).slow_consumers(
            "slow-consumer",
            "%s: slow consumer, %d packets (%d bytes) queued; disconnecting it",
            self,
            packets,
            size,
        )
        gevent.spawn(self.kill, detach=True)

    def send_raw(self, msg: Optional[str]) -> None:
        """Queue or write ``msg`` for the client, whatever is already waiting (no limit).

        ``None`` tells the transport that the session ended.
        """
        output = self._output
        if output is not None:
            output.write(msg)
        else:
            self.client_queue.put_nowait(msg)

    def attach_output(self, output: Output) -> None:
        """Write packets straight to ``output`` from now on, after what is queued."""
        queued = []
        queue = self._client_queue
        while queue is not None and queue.qsize():
            queued.append(queue.get_nowait())
        self._queued_bytes = 0
        self._output = output
        for msg in queued:
            output.write(msg)

    def get_client_msg(self, **kwargs: Any) -> Optional[str]:
        """Take the next packet for the client (``block``/``timeout`` as ``Queue.get``)."""
        msg: Optional[str] = self.client_queue.get(**kwargs)
        if msg:
            self._queued_bytes -= len(msg)
        return msg

    def get_multiple_client_msgs(self, **kwargs: Any) -> list[Optional[str]]:
        """Wait for one packet for the client (as :meth:`get_client_msg`), then take all queued.

        While it waits, the client can take a packet at once: a volatile one
        goes (see :meth:`put_volatile_msg`).
        """
        queue = self.client_queue
        # (counted, not flagged: a poll and a stream of one session may overlap)
        self._takers += 1
        try:
            msgs = [queue.get(**kwargs)]
        finally:
            self._takers -= 1
        while queue.qsize():
            msgs.append(queue.get_nowait())
        self._queued_bytes = 0
        return msgs
