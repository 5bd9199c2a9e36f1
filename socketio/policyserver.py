r"""The Flash socket policy server that flashsocket clients ask before connecting.

A Flash bridge first connects to port 843 (or 10843) and sends
``<policy-file-request/>\0``; it expects a ``<cross-domain-policy>`` document
ending in a NUL byte.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Optional

from gevent.pool import Pool
from gevent.server import StreamServer

from .peerlog import PeerLog

__all__ = [
    "DEFAULT_LISTENER",
    "MAX_CONNECTIONS",
    "POLICY",
    "READ_TIMEOUT",
    "FlashPolicyServer",
    "listener_host",
]

log = logging.getLogger(__name__)

DEFAULT_LISTENER = ("0.0.0.0", 10843)

POLICY = (
    b'<?xml version="1.0"?>'
    b'<!DOCTYPE cross-domain-policy SYSTEM "http://www.macromedia.com/xml/dtds/cross-domain-policy.dtd">'
    b"<cross-domain-policy>"
    b'<allow-access-from domain="*" to-ports="*"/>'
    b"</cross-domain-policy>\0"
)
_REQUEST = b"<policy-file-request/>"
_MAX_REQUEST = 1024
#: seconds a client has, in all, to send its request
READ_TIMEOUT = 10.0
#: connections served at once; more wait in the listen backlog (they hold no
#: file descriptor of the process there, which the Socket.IO server shares)
MAX_CONNECTIONS = 100


class FlashPolicyServer(StreamServer):
    r"""A ``StreamServer`` that answers ``<policy-file-request/>`` with :data:`POLICY`.

    Args:
        listener: ``(host, port)`` or a listening socket; default ``('0.0.0.0', 10843)``.
        backlog: the listen backlog, as for ``StreamServer``.
        policy: the document to send (bytes ending in ``\0``).
        max_connections: connections served at once (see :data:`MAX_CONNECTIONS`).
        read_timeout: seconds a connection has, in all, to send its request
            (at most 1 KiB): a client trickling it cannot hold a connection
            (or, with many, the process's file descriptors) for long.
    """

    def __init__(
        self,
        listener: Any = None,
        backlog: Optional[int] = None,
        policy: bytes = POLICY,
        max_connections: int = MAX_CONNECTIONS,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        super().__init__(listener or DEFAULT_LISTENER, backlog=backlog, spawn=Pool(max_connections))
        self.policy = policy
        self.read_timeout = read_timeout
        #: rate-limited lines about clients, this policy server's own
        self.peer_log = PeerLog(log)

    def handle(self, sock: Any, address: Any) -> None:
        """Read the request (bounded in bytes and in time), answer it, close."""
        deadline = time.monotonic() + self.read_timeout
        data = b""
        try:
            while b"\0" not in data and len(data) < _MAX_REQUEST:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("request not sent in time")
                sock.settimeout(left)
                chunk = sock.recv(_MAX_REQUEST)
                if not chunk:
                    break
                data += chunk
                if data.startswith(_REQUEST):
                    break
            if data.startswith(_REQUEST):
                sock.sendall(self.policy)
            else:
                self.peer_log("policy-request", "policy server: unexpected request: %s", data[:40])
        except OSError as exc:
            log.debug("policy server: %s: %s", address, exc)
        finally:
            sock.close()


def listener_host(listener: Any) -> str:
    """The host part of whatever ``WSGIServer`` accepts as a listener (``0.0.0.0`` if unknown).

    The policy server listens there by default, on port 10843.
    """
    try:
        return str(listener.getsockname()[0])
    except AttributeError:
        pass
    try:
        return str(listener[0])
    except (TypeError, IndexError, KeyError):
        pass
    address = getattr(listener, "address", None) or getattr(listener, "cfg_addr", None)
    try:
        return str(address[0])  # type: ignore[index]
    except (TypeError, IndexError):
        return "0.0.0.0"
