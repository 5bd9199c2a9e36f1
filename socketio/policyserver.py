"""The Flash socket policy server that flashsocket clients ask before connecting.

A Flash bridge first connects to port 843 (or 10843) and sends
``<policy-file-request/>\\0``; it expects a ``<cross-domain-policy>`` document
ending in a NUL byte.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from gevent.server import StreamServer

__all__ = ["DEFAULT_LISTENER", "POLICY", "FlashPolicyServer"]

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
_READ_TIMEOUT = 10.0


class FlashPolicyServer(StreamServer):
    """A ``StreamServer`` that answers ``<policy-file-request/>`` with :data:`POLICY`.

    Args:
        listener: ``(host, port)`` or a listening socket; default ``('0.0.0.0', 10843)``.
        backlog: the listen backlog, as for ``StreamServer``.
        policy: the document to send (bytes ending in ``\\0``).
    """

    def __init__(
        self, listener: Any = None, backlog: Optional[int] = None, policy: bytes = POLICY
    ) -> None:
        super().__init__(listener or DEFAULT_LISTENER, backlog=backlog)
        self.policy = policy

    def handle(self, sock: Any, address: Any) -> None:
        """Read the request (bounded, with a timeout), answer it, close."""
        sock.settimeout(_READ_TIMEOUT)
        data = b""
        try:
            while b"\0" not in data and len(data) < _MAX_REQUEST:
                chunk = sock.recv(_MAX_REQUEST)
                if not chunk:
                    break
                data += chunk
                if data.startswith(_REQUEST):
                    break
            if data.startswith(_REQUEST):
                sock.sendall(self.policy)
            else:
                log.info("policy server: unexpected request from %s: %.40r", address, data)
        except OSError as exc:
            log.debug("policy server: %s: %s", address, exc)
        finally:
            sock.close()
