"""Response heads as values: status lines, header lines, ``Date``, and bodiless refusals.

Each is remembered: most answers carry the same few headers and statuses,
and formatting them again cost more than the rest of the head (see
``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import http
import time
from collections.abc import Iterable
from typing import NamedTuple, Optional

from gevent.pywsgi import format_date_time

from .runtime import memo

__all__ = [
    "CONNECTION",
    "CONTENT_LENGTH",
    "HeadLines",
    "date_header",
    "error_response",
    "head_lines",
    "header_line",
    "http_date",
    "status_line",
]


@memo(16)
def error_response(status: int) -> bytes:
    """A whole bodiless answer with ``status`` that closes the connection."""
    return (
        f"HTTP/1.1 {status_line(status)}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    ).encode("latin-1")


@memo(2)
def http_date(second: int) -> str:
    """The ``Date`` header value for a time in whole seconds."""
    stamp: bytes = format_date_time(second)  # (pywsgi gives bytes)
    return stamp.decode("latin-1")


def date_header() -> tuple[str, str]:
    """The ``Date`` header of a response sent now."""
    # pywsgi formats the date for every response; it changes once a second.
    return ("Date", http_date(int(time.time())))


@memo(64)
def status_line(code: int) -> str:
    """``200 OK`` for 200: the status line's code and reason."""
    return f"{code} {http.HTTPStatus(code).phrase}"


CONNECTION = 1
CONTENT_LENGTH = 2


@memo(256)
def header_line(name: str, value: str) -> tuple[str, int, tuple[bytes, bytes]]:
    """A response header's line, which of the headers the head is checked for it is, its bytes.

    Remembered: most answers carry the same few headers (content type,
    ``nosniff``, the CORS ones for a page's origin), and checking and
    encoding each again cost more than the rest of the head.

    Raises:
        ValueError: a CR or LF in the name or value (pywsgi's check).
    """
    if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
        raise ValueError(f"carriage return or newline in header {name!r}: {value!r}")
    lowered = name.lower()
    kind = (
        CONNECTION
        if lowered == "connection"
        else CONTENT_LENGTH
        if lowered == "content-length"
        else 0
    )
    return f"{name}: {value}\r\n", kind, (name.encode("latin-1"), value.encode("latin-1"))


class HeadLines(NamedTuple):
    """What a response's own headers give its head (see :func:`head_lines`)."""

    #: their lines, joined
    text: str
    #: their ``(name, value)`` bytes, for the access log
    logged: tuple[tuple[bytes, bytes], ...]
    #: the ``Connection`` header's value, lowered (``None``: none given)
    connection: Optional[str]
    #: whether a ``Content-Length`` is given
    length_given: bool


def head_lines(headers: list[tuple[str, str]]) -> HeadLines:
    """A response's own header lines, checked and joined (:func:`header_line` for each).

    Remembered whole: an answer's headers are those of many others (a
    polling answer's differ by their ``Content-Length`` and the page's
    origin), and one lookup costs less than one per header.

    Raises:
        ValueError: a CR or LF in a name or value (pywsgi's check).
    """
    key = tuple(headers)
    try:
        hash(key)
    except TypeError:  # (a header given as a list: not a key)
        return _join_head_lines(headers)
    return _head_lines(key)


def _join_head_lines(headers: Iterable[tuple[str, str]]) -> HeadLines:
    lines = []
    logged = []
    connection = None
    length_given = False
    for name, value in headers:
        line, kind, pair = header_line(name, value)
        lines.append(line)
        logged.append(pair)
        if kind == CONNECTION:
            connection = value.lower()
        elif kind == CONTENT_LENGTH:
            length_given = True
    return HeadLines("".join(lines), tuple(logged), connection, length_given)


_head_lines = memo(256)(_join_head_lines)
