"""HTTP/1.1 request headers read the quick way: pure functions, no sockets.

pywsgi parses every request's headers with :func:`http.client.parse_headers`,
which hands them to the :mod:`email` package's feed parser: a large part of
the cost of a polling request. Almost every real request has only plain
``Name: value`` lines; :func:`split_header_lines` turns those into the very
``(name, value)`` pairs the :mod:`email` parser would keep, and declines
(returns ``None``) anything else: folded lines, names that are not tokens,
lines without a colon. The caller then lets :mod:`email` parse the same text,
so odd requests are read exactly as before. :func:`split_header_block` does
the same for a whole header block already in the reader's buffer, checked by
one regular expression instead of line by line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from http.client import HTTPException, LineTooLong
from typing import Optional

__all__ = [
    "MAX_HEADERS",
    "MAX_LINE",
    "environ_pairs",
    "read_header_lines",
    "split_header_block",
    "split_header_lines",
]

#: the limits of :mod:`http.client` (``_MAXLINE``, ``_MAXHEADERS``)
MAX_LINE = 65536
MAX_HEADERS = 100

# RFC 9110 token characters, the only ones a field name may have.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_END = (b"\r\n", b"\n", b"")


def read_header_lines(readline: Callable[[int], bytes]) -> list[bytes]:
    """Read header lines up to and including the empty line that ends them.

    Raises:
        LineTooLong: a line is longer than :data:`MAX_LINE`.
        HTTPException: more than :data:`MAX_HEADERS` lines (as http.client).
    """
    lines = []
    while True:
        line = readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in _END:
            return lines


def split_header_lines(lines: list[bytes]) -> Optional[list[tuple[str, str]]]:
    """The ``(name, value)`` pairs of plain header lines, or ``None`` for anything else.

    Names keep their case; a value loses the spaces and tabs before it and
    the line break after it (trailing spaces stay), as :mod:`email` keeps it.
    Bytes are read as ISO-8859-1, as :mod:`http.client` reads them.
    """
    pairs = []
    for line in lines:
        if line in _END:
            break
        name, colon, value = line.partition(b":")
        if not colon or _TOKEN.match(name) is None:
            return None
        pairs.append(
            (
                name.decode("iso-8859-1"),
                value.lstrip(b" \t").rstrip(b"\r\n").decode("iso-8859-1"),
            )
        )
    return pairs


# Plain lines, each ended by CRLF, then the empty line: nothing folded, no
# lone CR or LF, every name a token.
_PLAIN_BLOCK = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\r\n]*\r\n)*\r\n")


def split_header_block(block: bytes) -> Optional[list[tuple[str, str]]]:
    """The pairs of a whole header block (up to its empty line), or ``None`` if not plain.

    The same pairs as :func:`split_header_lines` gives for the block's
    lines, for blocks whose lines all end with CRLF; anything else (a bare
    LF ending, a folded line, a name that is not a token) gives ``None``.
    The block's size and line count are the caller's to bound.
    """
    if _PLAIN_BLOCK.fullmatch(block) is None:
        return None
    if len(block) == 2:
        return []
    pairs = []
    for line in block[:-4].decode("iso-8859-1").split("\r\n"):
        name, _, value = line.partition(":")
        pairs.append((name, value.lstrip(" \t")))
    return pairs


_NOT_HTTP_KEYS = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})


def environ_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The ``HTTP_*`` environ entries of plain header pairs, as pywsgi makes them.

    A name with ``_`` is dropped (it could pass for another name once ``-``
    becomes ``_``); ``Content-Type`` and ``Content-Length`` have entries of
    their own; values are stripped. Repeated names are left to the caller
    to join.
    """
    entries = []
    for name, value in pairs:
        key = _environ_key(name)
        if key is not None:
            entries.append((key, value.strip()))
    return entries


@functools.lru_cache(maxsize=256)
def _environ_key(name: str) -> Optional[str]:
    # Cached: the same few names come in every request, and each environ of
    # a long-lived connection then holds the one string of each key.
    if "_" in name:
        return None
    key = name.replace("-", "_").upper()
    return None if key in _NOT_HTTP_KEYS else "HTTP_" + key
