"""Polling without sticky routing: requests for another process's session go to that process.

A Socket.IO 0.9 session lives in the process that answered its handshake (its
*owner*): its queue, its namespaces and its timers are Python objects there.
A websocket carries the whole session on one connection, and a sibling that
receives it adopts the session (:meth:`~socketio.server.SocketIOServer.adopt_socket`).
A polling client, though, sends every GET and POST on its own, and with
several processes behind one port (gunicorn workers) or a proxy that is not
sticky, each may land anywhere.

So with ``forward_listener`` and ``session_secret`` set, each process listens
on a private address and writes it, signed, into the ids of the sessions it
owns (:func:`socketio.sessionid.sessid_owner`). A process that receives a
request for a session it does not hold, whose id names another owner,
replays the request to the owner's address (:class:`Forwarder`) and relays
the answer, streamed for htmlfile and xhr-multipart. The owner serves it as
any request of the session: one owner, one queue, so every packet reaches
the client once and in order, and heartbeats, close timeouts and
disconnects behave as in one process. The direct path is untouched: a
request for a session held here never looks at its owner.

Faults: an owner that is gone (its address refuses, or it closes before
answering) is a session that is gone: the client is answered as for an
unknown session (``7:::1+0``) and handshakes again. An owner that does not
answer in time gets the client a 504 and a closed connection (a failed
request, after which a 0.9 client reconnects); one past its
``max_connections`` (forwarded requests count there as any connection),
a 503. A request is sent again only on a new connection when a kept one
was closed before the owner read it (an owner answers every request it
reads): nothing is delivered twice.

The owner's :class:`ForwardListener` serves only forwarded requests, each
signed by the sibling with the shared secret
(:func:`~socketio.sessionid.forward_signature`), which also vouches for the
client's address.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import socket as stdlib_socket
import stat
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Optional

import gevent.socket
from gevent.server import StreamServer

from .config import Config
from .exceptions import RelayError, StreamCut
from .peerlog import ServerLogs, clip
from .protocol import Response, text_response
from .relay import (
    FORWARD_HEADER,
    OWNER_HEADER,
    ChunkDecoder,
    ForwardAddress,
    ResponseHead,
    build_request,
    parse_forward_address,
    parse_response_head,
)
from .sessionid import forward_signature, owner_signature, sessid_owner, verify_forward_signature

__all__ = [
    "MAX_IDLE_PER_OWNER",
    "ForwardListener",
    "ForwardedRequests",
    "Forwarder",
    "OwnerConnections",
    "check_forwarded",
]

log = logging.getLogger(__name__)

_RECV = 64 * 1024
#: a socket's timeout: on Python 3.9 (PyPy 7.3) ``socket.timeout`` is not yet
#: ``TimeoutError``
_TIMEOUTS = (TimeoutError, stdlib_socket.timeout)
#: kept-alive connections to one owner, at most
MAX_IDLE_PER_OWNER = 32
#: seconds a kept connection may stay idle, at most
_MAX_IDLE_SECONDS = 5.0
_FAMILIES = {4: stdlib_socket.AF_INET, 6: stdlib_socket.AF_INET6}
_FORWARD_ENVIRON = "HTTP_" + FORWARD_HEADER.upper().replace("-", "_")


class Forwarder:
    """Replays requests for sessions owned elsewhere to their owner, and relays the answers.

    Counts what it did in :attr:`forwarded`, :attr:`unreachable`,
    :attr:`timed_out` and :attr:`busy`.
    """

    def __init__(self, config: Config, own: str, logs: ServerLogs) -> None:
        self.config = config
        #: this process's own address, as its session ids name it
        self.own = own
        self._logs = logs
        #: requests relayed to their owner and answered
        self.forwarded = 0
        #: requests whose owner was gone (answered as an unknown session)
        self.unreachable = 0
        #: requests whose owner did not answer in time (answered 504)
        self.timed_out = 0
        #: requests refused by their owner, past its ``max_connections`` (answered 503)
        self.busy = 0
        #: kept-alive connections to the owners, for the next requests
        self.connections = OwnerConnections(
            config.forward_timeout, min(_MAX_IDLE_SECONDS, config.keepalive_timeout / 4)
        )

    def owner_of(self, sessid: str) -> Optional[ForwardAddress]:
        """The address of the process that owns ``sessid``, if the id is genuine and names another."""
        owner = sessid_owner(sessid, self.config.session_secret)
        if owner is None or owner == self.own:
            return None
        try:
            return parse_forward_address(owner)
        except ValueError:
            return None  # (signed by a sibling of another version: not ours to read)

    def forward(
        self,
        owner: ForwardAddress,
        sessid: str,
        method: str,
        target: str,
        environ: dict[str, Any],
        body: bytes,
    ) -> Optional[Response]:
        """Replay a request to ``owner`` and return its answer; ``None`` if the owner is gone.

        Args:
            owner: from :meth:`owner_of`.
            sessid: the session the request is for.
            method: the request method.
            target: the request target, as the client sent it.
            environ: the request's environ (its headers are replayed).
            body: the request body, read here with this process's limits.
        """
        config = self.config
        client = str(environ.get("REMOTE_ADDR") or "")
        secret = config.session_secret
        assert secret  # (owner_of found an owner)
        signed = f"{client} {forward_signature(secret, sessid, client)}"
        request = build_request(method, target, environ, body, signed, keep_alive=True)
        try:
            sock, kept = self.connections.take(owner)
        except OSError as exc:
            return self._gone(owner, exc)
        try:
            try:
                head, rest = self._exchange(sock, request)
            except _Unanswered:
                if not kept:
                    raise
                # A kept connection the owner closed as it was taken: the
                # request was not read (the owner answers what it reads).
                sock.close()
                sock = _connect(owner, config.forward_timeout)
                head, rest = self._exchange(sock, request)
            if head.owner is None or not hmac.compare_digest(
                head.owner, owner_signature(secret, sessid)
            ):
                if head.status == 503:  # (past its max_connections: refused unread)
                    sock.close()
                    return self._busy(owner, environ)
                raise RelayError("the answer is not signed by the session's owner")
        except _TIMEOUTS:
            sock.close()
            self.timed_out += 1
            self._logs.server("forward-timeout", "owner %s did not answer in time", owner)
            response = text_response(
                504, "session owner did not answer", environ.get("HTTP_ORIGIN")
            )
            response.headers.append(("Connection", "close"))
            return response
        except (OSError, RelayError) as exc:
            sock.close()
            return self._gone(owner, exc)
        self.forwarded += 1
        if head.chunked or head.length is None:
            # A stream (htmlfile, xhr-multipart), relayed as it comes.
            idle = config.heartbeat_interval + config.forward_timeout
            return Response(head.status, head.headers, RelayedBody(sock, rest, head.chunked, idle))
        try:
            whole = _read_exactly(sock, rest, head.length, config.forward_timeout)
        except (OSError, RelayError) as exc:
            sock.close()
            return self._gone(owner, exc)
        if head.close or len(rest) > head.length:  # (more than asked: out of step)
            sock.close()
        else:
            self.connections.give_back(owner, sock)
        return Response(head.status, head.headers, whole)

    def _busy(self, owner: ForwardAddress, environ: dict[str, Any]) -> Response:
        self.busy += 1
        self._logs.server("forward-busy", "owner %s refused a forwarded request: busy", owner)
        response = text_response(503, "server busy", environ.get("HTTP_ORIGIN"))
        response.headers.append(("Connection", "close"))
        return response

    def _exchange(self, sock: Any, request: bytes) -> tuple[ResponseHead, bytes]:
        """Send ``request``; the answer's head and what came after it."""
        config = self.config
        sock.settimeout(config.forward_timeout)
        sock.sendall(request)
        return self._read_head(sock, config.poll_hold + config.forward_timeout)

    def _read_head(self, sock: Any, timeout: float) -> tuple[ResponseHead, bytes]:
        deadline = time.monotonic() + timeout
        data = b""
        while True:
            head = parse_response_head(data)
            if head is not None:
                return head, data[head.size :]
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            more = sock.recv(_RECV)
            if not more:
                raise (
                    _Unanswered("closed before answering")
                    if not data
                    else RelayError("closed in the middle of its answer's head")
                )
            data += more

    def _gone(self, owner: ForwardAddress, exc: BaseException) -> Optional[Response]:
        self.unreachable += 1
        self._logs.server(
            "forward-unreachable",
            "owner %s unreachable (%s): its session answered as unknown",
            owner,
            clip(str(exc) or type(exc).__name__),
        )
        return None


class _Unanswered(RelayError):
    """The owner closed the connection without a byte of answer."""


class OwnerConnections:
    """Idle connections to the owners, kept alive for their next forwarded request.

    A misrouted request then costs neither side a new connection (nor the
    owner a new handler). At most :data:`MAX_IDLE_PER_OWNER` are kept per
    owner, each for ``idle`` seconds at most: well within the owner's
    ``keepalive_timeout``, so the owner never closes one as it is taken.
    A connection is also looked at before it is used: one the owner has
    closed (it stopped) is dropped, and a new one made.
    """

    def __init__(self, connect_timeout: float, idle: float) -> None:
        self._timeout = connect_timeout
        self._idle = idle
        self._pools: dict[ForwardAddress, deque[tuple[float, Any]]] = {}

    def take(self, owner: ForwardAddress) -> tuple[Any, bool]:
        """An open connection to ``owner``, and whether it was kept (or is new).

        Raises:
            OSError: a new connection could not be made.
        """
        pool = self._pools.get(owner)
        if pool:
            deadline = time.monotonic() - self._idle
            while pool:
                since, sock = pool.pop()
                if since >= deadline and _still_open(sock):
                    return sock, True
                sock.close()
            del self._pools[owner]
        return _connect(owner, self._timeout), False

    def give_back(self, owner: ForwardAddress, sock: Any) -> None:
        """Keep ``sock``, whose last answer was read whole, for ``owner``'s next request."""
        pool = self._pools.setdefault(owner, deque())
        now = time.monotonic()
        while pool and (len(pool) >= MAX_IDLE_PER_OWNER or pool[0][0] < now - self._idle):
            pool.popleft()[1].close()
        pool.append((now, sock))

    @property
    def idle(self) -> int:
        """How many connections are kept."""
        return sum(len(pool) for pool in self._pools.values())


def _still_open(sock: Any) -> bool:
    """Whether a kept connection is open with nothing unread (the owner sends nothing unasked).

    Readable now means closed (an end of file) or out of step (bytes nobody
    asked for): either way not to be used.
    """
    # A peek that must not wait (select() would refuse a descriptor past
    # FD_SETSIZE, 1024: every kept connection of a busy process dropped).
    try:
        timeout = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            sock.recv(1, stdlib_socket.MSG_PEEK)  # (b"": closed; bytes: out of step)
        finally:
            sock.settimeout(timeout)
    except BlockingIOError:
        return True  # nothing to read: open, in step
    except OSError:  # (closed here, or reset)
        return False
    return False


def _connect(owner: ForwardAddress, timeout: float) -> Any:
    if owner.family == "unix":
        sock = gevent.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(owner.host)
        except BaseException:
            sock.close()
            raise
        return sock
    try:
        family = _FAMILIES[ipaddress.ip_address(owner.host).version]
    except ValueError:  # a host name: resolved (gevent's resolver)
        sock = gevent.socket.create_connection((owner.host, owner.port), timeout=timeout)
    else:  # an address: connected at once (create_connection would ask the resolver)
        sock = gevent.socket.socket(family, stdlib_socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect((owner.host, owner.port))
        except BaseException:
            sock.close()
            raise
    with contextlib.suppress(OSError):
        sock.setsockopt(stdlib_socket.IPPROTO_TCP, stdlib_socket.TCP_NODELAY, 1)
    return sock


def _read_exactly(sock: Any, data: bytes, length: int, timeout: float) -> bytes:
    parts = [data[:length]]
    got = len(parts[0])
    sock.settimeout(timeout)
    while got < length:
        more = sock.recv(min(_RECV, length - got))
        if not more:
            raise RelayError(f"closed {length - got} bytes before the end of the answer")
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class RelayedBody:
    """An owner's streamed answer, passed on piece by piece; closing it closes the owner's connection.

    The stream ends (the client then reconnects, as after any lost stream)
    when the owner ends it, or closes it, or stays silent ``idle`` seconds
    (it sends a heartbeat every ``heartbeat_interval``); the last two, and
    broken framing, raise :class:`~socketio.exceptions.StreamCut`, on which
    the client's stream is cut short too.
    """

    def __init__(self, sock: Any, first: bytes, chunked: bool, idle: float) -> None:
        self._sock = sock
        self._first = first
        self._decoder = ChunkDecoder() if chunked else None
        self._idle = idle

    def __iter__(self) -> Iterator[bytes]:
        sock, decoder = self._sock, self._decoder
        data = self._first
        try:
            sock.settimeout(self._idle)
            while True:
                if data:
                    if decoder is None:
                        yield data
                    else:
                        yield from decoder.feed(data)
                        if decoder.done:
                            return
                data = sock.recv(_RECV)
                if not data:
                    if decoder is None:
                        return  # (a stream without framing ends when its owner closes)
                    raise RelayError("the owner closed in the middle of the stream")
        except (OSError, RelayError) as exc:
            log.debug("relayed stream cut: %s", exc)
            raise StreamCut(str(exc) or type(exc).__name__) from None
        finally:
            self.close()

    def close(self) -> None:
        """Close the connection to the owner (the client has gone, or the stream ended)."""
        self._sock.close()


class ForwardedRequests:
    """What the handler of a forward listener's connection adds (a base class of it).

    Its answers carry the owner's signature (:data:`~socketio.relay.OWNER_HEADER`),
    which the forwarding process checks before it relays them.
    """

    #: this connection's requests come from siblings
    forwarded = True
    #: the signature of the current request's answer (see :func:`check_forwarded`)
    owner_proof: Optional[str] = None

    def send_response(self, response: Response) -> None:
        """Send ``response`` signed as the owner's."""
        proof, self.owner_proof = self.owner_proof, None  # (one answer per request)
        if proof is not None:
            response = Response(
                response.status, [*response.headers, (OWNER_HEADER, proof)], response.body
            )
        super().send_response(response)  # type: ignore[misc]  # (the handler's)


def check_forwarded(
    config: Config, environ: dict[str, Any], sessid: str
) -> Optional[tuple[str, str]]:
    """On a forward listener: if a sibling signed the request, the client's address and the answer's signature.

    ``None`` for a request nobody signed. A genuine request gets the
    client's address as its ``REMOTE_ADDR``.
    """
    value = str(environ.get(_FORWARD_ENVIRON, ""))
    client, _, signature = value.rpartition(" ")
    secret = config.session_secret
    if not secret or not signature:
        return None
    if not verify_forward_signature(secret, sessid, client, signature):
        return None
    environ["REMOTE_ADDR"] = client
    environ["socketio.forwarded"] = True
    return client, owner_signature(secret, sessid)


class ForwardListener:
    """The private listener of a process's forwarded requests (``forward_listener``).

    A unix socket is made in a directory only this user may enter (created
    if missing), replacing a stale socket file left by a process that died;
    it is removed when the listener closes. A TCP port 0 is bound to a free
    port, which :attr:`address` then names.
    """

    def __init__(self, address: ForwardAddress, handle: Callable[[Any, Any], None]) -> None:
        self._path: Optional[str] = None
        if address.family == "unix":
            self._path = address.host
            sock = _bind_unix(address.host)
        else:
            family = stdlib_socket.AF_INET6 if ":" in address.host else stdlib_socket.AF_INET
            sock = gevent.socket.socket(family, stdlib_socket.SOCK_STREAM)
            sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address.host, address.port))
            except BaseException:
                sock.close()
                raise
            address = ForwardAddress("tcp", address.host, sock.getsockname()[1])
        sock.listen(1024)
        #: the address bound (a TCP port 0 replaced by the port the kernel chose)
        self.address = address
        self._server = StreamServer(sock, handle)

    def start(self) -> None:
        """Start accepting."""
        self._server.start()

    def close(self) -> None:
        """Stop accepting, and remove the unix socket file."""
        self._server.close()
        if self._path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._path)


def _bind_unix(path: str) -> Any:
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            if _listening(path):
                raise OSError(f"another process listens on {path}")
            os.unlink(path)  # (left by a process that died)
    sock = gevent.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, 0o600)
    except BaseException:
        sock.close()
        raise
    return sock


def _listening(path: str) -> bool:
    probe = stdlib_socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    try:
        probe.settimeout(0.5)
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True
