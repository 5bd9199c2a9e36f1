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

It also holds the strict rules of RFC 9112 that keep a request's framing
unambiguous (a peer that could make us and a proxy in front of us disagree
about where a request ends could smuggle a second request past the proxy):
:func:`check_request_line`, :func:`check_header_lines` and
:func:`body_framing` refuse what they do not accept with a
:class:`HeadError` that names the status to answer with.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from http.client import HTTPException, LineTooLong
from typing import NamedTuple, Optional

from .exceptions import HeadError
from .runtime import memo

__all__ = [
    "MAX_HEAD",
    "MAX_HEADERS",
    "MAX_LINE",
    "REQUEST_LINE",
    "BodyFraming",
    "HeadError",
    "body_framing",
    "check_header_lines",
    "check_request_line",
    "check_trailer_line",
    "environ_pairs",
    "read_header_lines",
    "split_header_block",
    "split_header_lines",
    "split_request_line",
]

#: a request line, ``method SP request-target SP HTTP-version CRLF`` (its
#: groups are the three parts): one space each, a target of visible
#: characters (above 127 too, as clients send raw UTF-8 paths, but for NEL
#: and NBSP, which pywsgi's ``split()`` takes for spaces)
REQUEST_LINE = re.compile(
    r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([!-~\x80-\x84\x86-\x9f\xa1-\xff]+) (HTTP/\d\.\d)\r\n\Z"
)

#: the limits of :mod:`http.client` (``_MAXLINE``, ``_MAXHEADERS``)
MAX_LINE = 65536
MAX_HEADERS = 100
#: most bytes of header lines in one request head (the request line has its
#: own limit, pywsgi's 8 KiB): what a connection may make us hold for its
#: whole life, a websocket's environ keeping its upgrade headers
MAX_HEAD = 65536
#: most digits of a Content-Length (18 fit in 63 bits)
_MAX_LENGTH_DIGITS = 18


# RFC 9110 token characters, the only ones a field name may have.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_END = (b"\r\n", b"\n", b"")


def read_header_lines(readline: Callable[[int], bytes], max_bytes: int = MAX_HEAD) -> list[bytes]:
    """Read header lines up to and including the empty line that ends them.

    Raises:
        LineTooLong: a line is longer than :data:`MAX_LINE`.
        HTTPException: more than :data:`MAX_HEADERS` lines (as http.client).
        HeadError: the lines add up to more than ``max_bytes`` (status 431).
    """
    lines = []
    total = 0
    while True:
        line = readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise LineTooLong("header line")
        total += len(line)
        if total > max_bytes:
            raise HeadError(f"header lines of more than {max_bytes} bytes", "head-too-large", 431)
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
# lone CR or LF, every name a token, no control character but HTAB in a value
# (RFC 9110 field-value: VCHAR, obs-text, SP, HTAB).
_PLAIN_BLOCK = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*\r\n)*\r\n")


def split_header_block(block: bytes) -> Optional[list[tuple[str, str]]]:
    """The pairs of a whole header block (up to its empty line), or ``None`` if not plain.

    The same pairs as :func:`split_header_lines` gives for the block's
    lines, for blocks whose lines all end with CRLF; anything else (a bare
    LF ending, a folded line, a name that is not a token, a control
    character in a value) gives ``None``.
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


@memo(256)
def _environ_key(name: str) -> Optional[str]:
    # Cached: the same few names come in every request, and each environ of
    # a long-lived connection then holds the one string of each key.
    if "_" in name:
        return None
    key = name.replace("-", "_").upper()
    return None if key in _NOT_HTTP_KEYS else "HTTP_" + key


# -- strict framing (RFC 9112) -------------------------------------------------

# one header line, CRLF ended, plain (the slow path's lines, see _PLAIN_BLOCK)
_PLAIN_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*\r\n\Z")


def split_request_line(line: str) -> tuple[str, str, str]:
    """``(method, target, version)`` of a request line ``METHOD SP target SP HTTP/x.y CRLF``.

    pywsgi splits the line on any run of whitespace (a tab, a vertical tab,
    NBSP) and takes a bare LF as its end, where a proxy in front may read
    the same bytes otherwise: anything but the plain form is refused.

    Raises:
        HeadError: the line is malformed (400).
    """
    match = REQUEST_LINE.match(line)
    if match is None:
        raise HeadError(f"Invalid request line: {line!r}", "bad-request-line")
    return match.groups()  # type: ignore[return-value]


def check_request_line(line: str) -> None:
    """Refuse a request line that :func:`split_request_line` refuses.

    Raises:
        HeadError: the line is malformed (400).
    """
    split_request_line(line)


def check_header_lines(lines: list[bytes]) -> None:
    """Refuse header lines (as :func:`read_header_lines` gives them) that are not plain.

    A bare LF ending, a lone CR, a folded line (RFC 9112 §5.2: refuse it or
    unfold it; we refuse), a name that is not a token, a control character
    in a value, or a head cut off before its empty line.

    Raises:
        HeadError: the first line that is not plain (400).
    """
    for line in lines[:-1]:
        if _PLAIN_LINE.match(line) is None:
            raise HeadError(f"Invalid header line: {line!r}", "bad-header-line")
    if lines[-1] != b"\r\n":
        raise HeadError(f"Invalid end of head: {lines[-1]!r}", "bad-header-line")


def check_trailer_line(line: bytes) -> bool:
    """Whether a trailer line of a chunked body is a plain header line (CRLF ended)."""
    return _PLAIN_LINE.match(line) is not None


class BodyFraming(NamedTuple):
    """How a request's body is delimited (see :func:`body_framing`)."""

    #: the ``Content-Length`` (``None``: none given, or the body is chunked)
    length: Optional[int]
    #: the body comes with ``Transfer-Encoding: chunked``
    chunked: bool
    #: the connection must close after this request (RFC 9112 §6.1: a
    #: request that had both ``Content-Length`` and ``Transfer-Encoding``)
    close: bool


_NO_BODY = BodyFraming(None, False, False)


def body_framing(
    pairs: list[tuple[str, str]], version: str, index: Optional[dict[str, str]] = None
) -> BodyFraming:
    """Where the body of a request with these headers ends, or a refusal.

    Only ``Transfer-Encoding: chunked`` is accepted as a transfer coding, in
    HTTP/1.1, and only a ``Content-Length`` of plain digits (repeated only
    with the same value). With both, the body is chunked and the connection
    closes after the request.

    Args:
        pairs: the header pairs.
        version: the request's HTTP version.
        index: the first value of each lowered name in ``pairs``, if the
            caller has it (it is looked up instead of walking the pairs when
            no name comes twice).

    Raises:
        HeadError: 400 for an ambiguous or invalid framing, 501 for a
            transfer coding other than chunked.
    """
    lengths = codings = None
    if index is not None and len(index) == len(pairs):  # every name once
        lengths = index.get("content-length")
        codings = index.get("transfer-encoding")
        if codings is None:  # the usual request: at most one plain length
            return _NO_BODY if lengths is None else _length_framing(lengths)
        pairs = []
    for name, value in pairs:
        size = len(name)  # (a cheap filter: most names have neither length)
        if size == 14:
            if name.lower() == "content-length":
                lengths = value if lengths is None else f"{lengths},{value}"
        elif size == 17 and name.lower() == "transfer-encoding":
            codings = value if codings is None else f"{codings},{value}"
    length = None
    if lengths is not None:
        if not (lengths.isdigit() and lengths.isascii() and len(lengths) <= _MAX_LENGTH_DIGITS):
            lengths = _one_length(lengths)
        length = int(lengths)
    if codings is None:
        return _NO_BODY if length is None else BodyFraming(length, False, False)
    if version != "HTTP/1.1":
        raise HeadError(f"Transfer-Encoding in {version}", "bad-transfer-encoding")
    names = [c.strip(" \t").lower() for c in codings.split(",")]
    if names[-1] != "chunked" or names.count("chunked") != 1:
        raise HeadError(f"Invalid Transfer-Encoding: {codings!r}", "bad-transfer-encoding")
    if len(names) != 1:
        raise HeadError(f"Unsupported Transfer-Encoding: {codings!r}", "bad-transfer-encoding", 501)
    return BodyFraming(None, True, length is not None)


@memo(256)
def _length_framing(lengths: str) -> BodyFraming:
    """The framing of a ``Content-Length`` alone (cached: a few lengths recur)."""
    if not (lengths.isdigit() and lengths.isascii() and len(lengths) <= _MAX_LENGTH_DIGITS):
        lengths = _one_length(lengths)
    return BodyFraming(int(lengths), False, False)


def _one_length(lengths: str) -> str:
    """The one value of a ``Content-Length`` (its fields joined by commas), or a refusal."""
    values = {v.strip(" \t") for v in lengths.split(",")}
    if len(values) != 1:
        raise HeadError(f"Conflicting Content-Length: {lengths!r}", "bad-content-length")
    (text,) = values
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_LENGTH_DIGITS:
        raise HeadError(f"Invalid Content-Length: {text!r}", "bad-content-length")
    return text
