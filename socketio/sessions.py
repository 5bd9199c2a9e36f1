"""The server's registry of sessions, and its memory of the signed ids that ended.

:class:`Sessions` is ``server.sockets``: a plain dict to read (as the original's
was), which tells its server whenever a session leaves it, whichever dict
method removed or replaced it. :class:`EndedIds` remembers the signed ids of
sessions that ended here, so that a sibling process's session is not adopted
twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Optional

from .sessionid import issued_at

__all__ = ["EndedIds", "Sessions"]

_ABSENT: Any = object()


class Sessions(dict[str, Any]):
    """``server.sockets`` (session id → Socket): a dict that tells its server when a session leaves.

    A session leaves by ``del`` (``Socket.detach``), ``pop``, ``popitem``,
    ``clear``, or by another value stored under its id (``[]=``, ``update``,
    ``|=``); ``left(sessid)`` is then called once for it, after the change.
    Reads are a plain dict's, at a plain dict's speed.

    Args:
        left: called with the id of each session that left.
        gone: if given, called next with the session itself (the metrics
            read why it ended).
    """

    __slots__ = ("_gone", "_left")

    def __init__(
        self, left: Callable[[str], None], gone: Optional[Callable[[Any], None]] = None
    ) -> None:
        super().__init__()
        self._left = left
        self._gone = gone

    def _tell(self, sessid: str, socket: Any) -> None:
        self._left(sessid)
        if self._gone is not None:
            self._gone(socket)

    def __setitem__(self, sessid: str, socket: Any) -> None:
        old = dict.get(self, sessid, _ABSENT)
        dict.__setitem__(self, sessid, socket)
        if old is not _ABSENT and old is not socket:
            self._tell(sessid, old)

    def __delitem__(self, sessid: str) -> None:
        socket = dict.pop(self, sessid)
        self._tell(sessid, socket)

    def pop(self, sessid: str, default: Any = _ABSENT) -> Any:
        """Remove and return the session ``sessid`` (as ``dict.pop``), telling the server."""
        socket = dict.pop(self, sessid, _ABSENT)
        if socket is _ABSENT:
            if default is _ABSENT:
                raise KeyError(sessid)
            return default
        self._tell(sessid, socket)
        return socket

    def popitem(self) -> tuple[str, Any]:
        """Remove and return the last ``(sessid, session)`` (as ``dict.popitem``), telling the server."""
        item = dict.popitem(self)
        self._tell(*item)
        return item

    def clear(self) -> None:
        """Remove every session, telling the server of each."""
        items = list(self.items())
        dict.clear(self)
        for sessid, socket in items:
            self._tell(sessid, socket)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Store sessions as ``dict.update`` does; a session replaced under its id leaves."""
        for sessid, socket in dict(*args, **kwargs).items():
            self[sessid] = socket

    def __ior__(self, other: Any) -> Sessions:  # type: ignore[override,misc]
        self.update(other)
        return self

    def setdefault(self, sessid: str, default: Any = None) -> Any:
        """As ``dict.setdefault`` (which never removes a session)."""
        return dict.setdefault(self, sessid, default)


class EndedIds:
    """Signed ids of sessions ended here that could still be adopted, in the order they ended.

    At most ``cap`` ids are kept; when one is forgotten early to stay within
    that, every id issued no later than it is refused from then on
    (:attr:`floor`).
    """

    __slots__ = ("floor", "ids", "order")

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.order: deque[str] = deque()
        #: no id issued at or before this time (whole seconds) is adopted
        self.floor = -1

    def __contains__(self, sessid: object) -> bool:
        return sessid in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    def remember(self, sessid: str, window: float, cap: int, now: float) -> None:
        """Keep ``sessid`` while it is at most ``window`` seconds old (from ``now``).

        Ids older than that are forgotten first (they cannot be adopted anyway).
        """
        issued = issued_at(sessid)
        if issued is None:
            return
        ended, order = self.ids, self.order
        while order:  # (in the order they ended: nearly their issue order)
            first = issued_at(order[0])
            if first is not None and (int(now) - first) & 0xFFFFFFFF <= window:
                break
            ended.discard(order.popleft())
        if sessid in ended or (int(now) - issued) & 0xFFFFFFFF > window:
            return  # (too old to be adopted anyway)
        if len(order) >= cap:
            forgotten = order.popleft()
            ended.discard(forgotten)
            self.floor = max(self.floor, issued_at(forgotten) or 0)
        ended.add(sessid)
        order.append(sessid)
