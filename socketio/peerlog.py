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
from typing import Any

__all__ = ["CLIP", "PeerLog", "clip"]

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
