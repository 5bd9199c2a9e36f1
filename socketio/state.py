"""The states of a session and the moves between them, in one table.

A session is ``NEW`` from the handshake until its first transport request,
``CONNECTED`` while it is served, ``DISCONNECTING`` once killed (it stays
there: as in gevent-socketio 0.3, nothing moves it to ``DISCONNECTED``).
``CONNECTING`` and ``DISCONNECTED`` exist for code written for 0.3, which
named them; no session enters them.

:class:`SessionState` is a ``str`` enum, so ``socket.state == "CONNECTED"``
and ``Socket.STATE_CONNECTED`` keep working for applications written for 0.3.
"""

from __future__ import annotations

import enum

__all__ = ["ENDED", "LIVE", "TRANSITIONS", "SessionState", "can_move"]


class SessionState(str, enum.Enum):
    """The state of a session (compares equal to its name, as the original's strings did)."""

    NEW = "NEW"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    DISCONNECTING = "DISCONNECTING"
    DISCONNECTED = "DISCONNECTED"

    def __str__(self) -> str:
        """The bare name, as the original's plain strings printed."""
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        """Formatted as the bare name (``f"{socket.state}"``), as the original's strings were."""
        return str.__format__(self, format_spec)


#: every move a session makes: from a state to those it may go to next
TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.NEW: frozenset({SessionState.CONNECTED, SessionState.DISCONNECTING}),
    SessionState.CONNECTING: frozenset(),  # named by 0.3, never entered
    SessionState.CONNECTED: frozenset({SessionState.DISCONNECTING}),
    SessionState.DISCONNECTING: frozenset(),
    SessionState.DISCONNECTED: frozenset(),  # named by 0.3, never entered
}

#: states in which a session is served (its clock runs, its transports carry packets)
LIVE: frozenset[str] = frozenset({SessionState.NEW, SessionState.CONNECTED})
#: states in which a session has ended
ENDED: frozenset[str] = frozenset({SessionState.DISCONNECTING, SessionState.DISCONNECTED})


def can_move(current: str, new: str) -> bool:
    """True if a session in state ``current`` may move to ``new`` (see :data:`TRANSITIONS`).

    A state set by hand to a string that names no state (code written for
    0.3 may do that) may move anywhere.
    """
    try:
        return SessionState(new) in TRANSITIONS[SessionState(current)]
    except ValueError:
        return True
