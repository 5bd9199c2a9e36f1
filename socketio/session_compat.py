"""The gevent-socketio 0.3 surface of a session that nothing in this library needs.

Applications and tests written for 0.3 reach into a session for these names
(the ``_set_*`` setters :func:`socketio.socketio_manage` called there, the
``timeout`` event of its watcher, the greenlet-returning ``_spawn_*``
methods, ``STATE_*``). They are gathered here, as one part of
:class:`~socketio.virtsocket.Socket`, with their test
(``tests/unit/test_session_compat.py``), so that the rest of the session
layer can use its own names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

import gevent
import gevent.event

from .session_base import SessionBase
from .state import SessionState

if TYPE_CHECKING:  # pragma: no cover
    from .namespace import BaseNamespace

__all__ = ["Compat03"]


class Compat03(SessionBase):
    """The 0.3-compatible names of a :class:`~socketio.virtsocket.Socket` (one of its parts)."""

    __slots__ = ()

    STATE_CONNECTING = SessionState.CONNECTING  # (never entered, as in 0.3)
    STATE_CONNECTED = SessionState.CONNECTED
    STATE_DISCONNECTING = SessionState.DISCONNECTING
    STATE_DISCONNECTED = SessionState.DISCONNECTED  # (never entered, as in 0.3)

    _timeout: Optional[gevent.event.Event]
    ended: gevent.event.Event

    # -- setters socketio_manage called in 0.3 --------------------------------

    def _set_namespaces(self, namespaces: dict[str, type[BaseNamespace]]) -> None:
        self.namespaces = namespaces

    def _set_request(self, request: Any) -> None:
        self.request = request

    def _set_environ(self, environ: dict[str, Any]) -> None:
        self.environ = environ

    def _set_error_handler(self, error_handler: Callable[..., Any]) -> None:
        self.error_handler = error_handler

    def _set_json_loads(self, json_loads: Callable[[str], Any]) -> None:
        self.json_loads = json_loads

    def _set_json_dumps(self, json_dumps: Callable[[Any], str]) -> None:
        self.json_dumps = json_dumps

    # -- the watcher's event and the greenlets of 0.3 -------------------------

    @property
    def timeout(self) -> gevent.event.Event:
        """Set when the session ends (kept for code written for the original's watcher).

        Made when first asked for (few sessions are ever asked).
        """
        event = self._timeout
        if event is None:
            event = self._timeout = gevent.event.Event()
            if self.ended.is_set():
                event.set()
        return event

    @timeout.setter
    def timeout(self, event: gevent.event.Event) -> None:
        self._timeout = event

    def _spawn_heartbeat(self) -> gevent.Greenlet:
        """Start the heartbeats (see :meth:`~socketio.virtsocket.Socket.start_heartbeats`).

        Returns a job that lives as long as the socket, for code that expects
        the heartbeat greenlet of the original library.
        """
        self.start_heartbeats()
        return self.spawn(self.ended.wait)

    def _spawn_watcher(self) -> gevent.Greenlet:
        """Start expiring the socket (see :meth:`~socketio.virtsocket.Socket.start_clock`).

        Returns a job that lives as long as the socket, for code that expects
        the watcher greenlet of the original library.
        """
        self.start_clock()
        return self.spawn(self.ended.wait)

    def _receiver_loop(self) -> None:
        """0.3's name of :meth:`~socketio.virtsocket.Socket.receiver_loop`."""
        self.receiver_loop()

    def _spawn_receiver_loop(self) -> gevent.Greenlet:
        """0.3's name of :meth:`~socketio.virtsocket.Socket.spawn_receiver_loop`."""
        return self.spawn_receiver_loop()

    def _get_namespace(self, endpoint: str) -> BaseNamespace:
        """0.3's name of :meth:`~socketio.virtsocket.Socket.get_namespace`."""
        return self.get_namespace(endpoint)
