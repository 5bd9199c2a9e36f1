"""Log lines about what a client did wrong: short, escaped, and rate limited.

Anything a client sends may end up in a log line (an endpoint, an event
name, a header). Written as is, a newline in it forges a line of its own, a
100 KB value fills the log, and a client repeating a mistake a thousand
times a second writes a thousand lines a second. :class:`PeerLog` writes
each kind of mistake at most once per interval (counting the ones it left
out), and :func:`clip` turns client text into one short line.

Our own bugs are not client mistakes: they still go to ``log.exception``
with their traceback.
"""

from __future__ import annotations

import logging
import time
from typing import Any, TypeVar

_Logs = TypeVar("_Logs")  # what logs_of returns: the kind it is given

__all__ = ["CLIP", "PeerLog", "ServerLogs", "clip", "logs_of", "server_logs"]

#: characters of client text kept in a log line
CLIP = 100

#: most kinds remembered by one :class:`PeerLog` (kinds are names in our
#: code, so there are few; this bounds it even if one is built from input)
_MAX_KINDS = 256


def clip(value: Any, limit: int = CLIP) -> str:
    r"""``value`` as text fit for one log line.

    Control characters, backslashes and anything outside ASCII are escaped
    (``\n``, ``\x1b``, ``\u2028``), so the text cannot start a line or
    move the terminal's cursor; at most ``limit`` characters of the original
    are kept, and the rest is counted.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        text = bytes(value[: limit + 1]).decode("latin-1")
        total = len(value)
    else:
        text = value if isinstance(value, str) else repr(value)
        total = len(text)
    escaped = text[:limit].encode("unicode_escape").decode("ascii")
    if total > limit:
        escaped += f"...(+{total - limit})"
    return escaped


class PeerLog:
    """A logger's outlet for client mistakes: each kind once per ``interval`` seconds.

    Args:
        logger: where lines go.
        interval: seconds during which further lines of a kind are only counted;
            the next line of that kind says how many were left out.
        level: the level of every line (client mistakes are not our errors:
            ``INFO`` by default).

    Call it as ``peer_log(kind, message, *args)``: ``kind`` is a constant
    naming the mistake (``"bad-frame"``), ``message`` a ``%``-format of our
    own, and ``args`` are clipped with :func:`clip` when they are text.
    """

    def __init__(self, logger: logging.Logger, interval: float = 10.0, level: int = logging.INFO):
        self.logger = logger
        self.interval = interval
        self.level = level
        # kind -> [monotonic time of its last line, lines left out since]
        self._kinds: dict[str, list[float]] = {}

    def __call__(self, kind: str, message: str, *args: Any) -> bool:
        """Log ``message % args`` unless ``kind`` was logged in the last ``interval``.

        Returns:
            Whether a line was written.
        """
        logger = self.logger
        if not logger.isEnabledFor(self.level):
            return False
        now = time.monotonic()
        kinds = self._kinds
        entry = kinds.get(kind)
        if entry is not None and now - entry[0] < self.interval:
            entry[1] += 1
            return False
        left_out = entry[1] if entry is not None else 0
        if entry is None and len(kinds) >= _MAX_KINDS:
            kinds.clear()
        kinds[kind] = [now, 0]
        shown = tuple(clip(a) if isinstance(a, (str, bytes, bytearray)) else a for a in args)
        if left_out:
            message += " (%d more like it not logged)"
            shown += (left_out,)
        logger.log(self.level, message, *shown)
        return True


class ServerLogs:
    """The rate-limited peer logs of one server: its own, its HTTP requests', its websockets'.

    Kept per server (see :func:`server_logs`), so that two servers in one
    process (or two tests) do not share their counts, and nothing mutable
    lives at module level. The lines keep the loggers they always had.
    """

    __slots__ = ("http", "server", "websocket")

    def __init__(self) -> None:
        #: the server's own lines: pending sessions, adoption, the connection cap
        self.server = PeerLog(logging.getLogger("socketio.server"))
        #: malformed or refused requests (the handler and its request reader)
        self.http = PeerLog(logging.getLogger("socketio.handler"))
        #: websockets closed for a client's frames
        self.websocket = PeerLog(logging.getLogger("socketio.wsconn"))


def server_logs(server: Any) -> ServerLogs:
    """The :class:`ServerLogs` of ``server``, made and hung on it when first asked for.

    Asked for only when a line is about to be logged, never per request. A
    server that cannot take the attribute (``None``, for a websocket built
    without a handler) gets a fresh one each time: its lines are not
    rate-limited together.
    """
    return logs_of(server, "server_logs", ServerLogs)


def logs_of(owner: Any, attribute: str, kind: type[_Logs]) -> _Logs:
    """The ``kind`` instance kept as ``owner.<attribute>``, made and set when first asked for.

    An owner that cannot take the attribute (a bare ``object()``, ``None``)
    gets a fresh one each time: its lines are then not rate-limited together.
    """
    logs = getattr(owner, attribute, None)
    if isinstance(logs, kind):
        return logs
    logs = kind()
    try:
        setattr(owner, attribute, logs)
    except (AttributeError, TypeError):
        pass
    return logs
