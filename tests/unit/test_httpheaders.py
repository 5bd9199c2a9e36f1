"""``socketio.httpheaders``: the quick header reader gives what http.client and email give."""

from __future__ import annotations

import http.client
import io

import pytest
from gevent.pywsgi import OldMessage, WSGIHandler
from hypothesis import given
from hypothesis import strategies as st

from socketio.httpheaders import (
    MAX_HEAD,
    MAX_HEADERS,
    BodyFraming,
    HeadError,
    body_framing,
    check_header_lines,
    check_request_line,
    environ_pairs,
    read_header_lines,
    split_header_block,
    split_header_lines,
)


def stock(raw: bytes) -> list[tuple[str, str]]:
    """What pywsgi's own parsing (http.client, then email) keeps."""
    return http.client.parse_headers(io.BytesIO(raw), _class=OldMessage)._headers


def quick(raw: bytes):
    return split_header_lines(read_header_lines(io.BytesIO(raw).readline))


@pytest.mark.parametrize(
    "raw",
    [
        b"\r\n",
        b"Host: example.com\r\n\r\n",
        b"Host: x\r\nContent-Length: 5\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nbody",
        b"X-A:b\r\nX-B:  trailing spaces stay  \r\nX-Empty:\r\nX-Tab:\tv\r\n\r\n",
        b"Cookie: a=1\r\nCookie: b=2\r\nX-Colons: a:b:c\r\n\r\n",
        b"X-Latin: \xe9\xff\r\n\n",
        b"Host: x\n\n",
    ],
)
def test_plain_headers_as_email_reads_them(raw):
    assert quick(raw) == stock(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"X-Folded: a\r\n b\r\n\r\n",  # obsolete line folding
        b"Bad Name: x\r\n\r\n",  # a space in the name
        b"no colon here\r\n\r\n",
        b": no name\r\n\r\n",
        b"From nobody\r\n\r\n",
    ],
)
def test_anything_else_is_left_to_email(raw):
    assert quick(raw) is None


def test_limits_as_http_client():
    with pytest.raises(http.client.LineTooLong):
        read_header_lines(io.BytesIO(b"X: " + b"a" * 70000 + b"\r\n\r\n").readline)
    too_many = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS + 1)) + b"\r\n"
    with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
        read_header_lines(io.BytesIO(too_many).readline)


names = st.from_regex(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}", fullmatch=True)
values = st.binary(max_size=30).filter(lambda v: b"\r" not in v and b"\n" not in v)


@given(st.lists(st.tuples(names, values), max_size=8))
def test_same_pairs_as_email_for_any_plain_lines(pairs):
    raw = b"".join(n.encode() + b":" + v + b"\r\n" for n, v in pairs) + b"\r\n"
    assert quick(raw) == stock(raw)


def stock_environ(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The HTTP_* entries pywsgi's handler makes of these headers."""
    handler = WSGIHandler.__new__(WSGIHandler)
    handler.headers = OldMessage()
    handler.headers._headers = pairs
    return list(handler._headers())


@given(st.lists(st.tuples(names, values), max_size=8))
def test_environ_entries_as_pywsgi_makes_them(pairs):
    pairs = quick(b"".join(n.encode() + b":" + v + b"\r\n" for n, v in pairs) + b"\r\n")
    assert environ_pairs(pairs) == stock_environ(pairs)


def test_environ_entries_examples():
    pairs = [("Host", "x"), ("X_Forged", "1"), ("Content-Type", "a/b"), ("X-A", " v \xa0")]
    assert environ_pairs(pairs) == [("HTTP_HOST", "x"), ("HTTP_X_A", "v")]
    assert environ_pairs(pairs) == stock_environ(pairs)


@pytest.mark.parametrize(
    "block",
    [
        b"\r\n",
        b"Host: x\r\n\r\n",
        b"X-A:b\r\nX-B:  trailing spaces stay  \r\nX-Empty:\r\nX-Tab:\tv\r\n\r\n",
        b"X-Latin: \xe9\xff\r\nX-Colons: a:b:c\r\n\r\n",
    ],
)
def test_a_plain_block_splits_as_its_lines(block):
    assert split_header_block(block) == quick(block) == stock(block)


@pytest.mark.parametrize(
    "block",
    [
        b"Host: x\n\n",  # bare LF endings
        b"Host: x\r\nA: b\n\r\n",
        b"A: b\rc\r\n\r\n",  # a lone CR
        b"X-Folded: a\r\n b\r\n\r\n",
        b"Bad Name: x\r\n\r\n",
        b": no name\r\n\r\n",
        b"Host: x\r\n",  # no empty line
        b"Host: x\r\n\r\nbody",  # more than the block
    ],
)
def test_anything_else_is_not_a_plain_block(block):
    assert split_header_block(block) is None


lines = st.binary(max_size=20).map(lambda v: v.replace(b"\n", b"").replace(b"\r", b""))


@given(st.lists(st.tuples(st.one_of(names, st.text(max_size=5)), lines), max_size=8))
def test_any_block_splits_as_its_lines_or_is_declined(pairs):
    block = b"".join(n.encode("utf-8") + b":" + v + b"\r\n" for n, v in pairs) + b"\r\n"
    split = split_header_block(block)
    assert split is None or split == quick(block)
    try:
        check_header_lines(read_header_lines(io.BytesIO(block).readline))
        strict = True
    except HeadError:
        strict = False
    if strict:  # every line plain (CRLF ended, no control character): the block is too
        assert split == quick(block)
    else:
        assert split is None


# -- strict framing ------------------------------------------------------------------


def test_the_whole_head_is_bounded():
    lines = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(70)) + b"\r\n"
    with pytest.raises(HeadError) as refused:
        read_header_lines(io.BytesIO(lines).readline)
    assert refused.value.status_hint == 431
    assert len(read_header_lines(io.BytesIO(lines).readline, max_bytes=len(lines))) == 71
    assert MAX_HEAD == 65536


@pytest.mark.parametrize(
    "line",
    [
        "GET / HTTP/1.1\r\n",
        "POST /socket.io/1/xhr-polling/x?t=1 HTTP/1.0\r\n",
        "GET /\xe9 HTTP/1.1\r\n",
    ],
)
def test_a_plain_request_line_passes(line):
    check_request_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "GET / HTTP/1.1\n",
        "GET / HTTP/1.1",
        "GET  / HTTP/1.1\r\n",
        "GET / HTTP/1.1 \r\n",
        "GET /\r HTTP/1.1\r\n",
        "GET /a\xa0b HTTP/1.1\r\n",
        "GET /\r\n",
        "G(T / HTTP/1.1\r\n",
        "GET / HTTP/11\r\n",
        "\x16\x03\x01 garbage\r\n",
    ],
)
def test_a_malformed_request_line_is_refused(line):
    with pytest.raises(HeadError):
        check_request_line(line)


@pytest.mark.parametrize(
    "lines",
    [
        [b"Host: x\n", b"\r\n"],
        [b"Host: x\r\n", b"\n"],
        [b"Host: x\r\n", b""],
        [b"A: b\rc\r\n", b"\r\n"],
        [b"A: b\r\n", b" c\r\n", b"\r\n"],
        [b"A b: c\r\n", b"\r\n"],
        [b"A: \x1bc\r\n", b"\r\n"],
        [b"A: c\x7f\r\n", b"\r\n"],
    ],
)
def test_header_lines_that_are_not_plain_are_refused(lines):
    with pytest.raises(HeadError):
        check_header_lines(lines)
    check_header_lines([b"A: b\tc \xe9\r\n", b"\r\n"])


@pytest.mark.parametrize(
    ("pairs", "version", "framing"),
    [
        ([], "HTTP/1.1", BodyFraming(None, False, False)),
        ([("Content-Length", "12")], "HTTP/1.1", BodyFraming(12, False, False)),
        (
            [("content-length", "0"), ("Content-Length", "0")],
            "HTTP/1.0",
            BodyFraming(0, False, False),
        ),
        ([("Content-Length", "5, 5")], "HTTP/1.1", BodyFraming(5, False, False)),
        ([("Transfer-Encoding", "Chunked ")], "HTTP/1.1", BodyFraming(None, True, False)),
        (
            [("Transfer-Encoding", "chunked"), ("Content-Length", "3")],
            "HTTP/1.1",
            BodyFraming(None, True, True),
        ),
    ],
)
def test_body_framing(pairs, version, framing):
    assert body_framing(pairs, version) == framing


@pytest.mark.parametrize(
    ("pairs", "version", "status"),
    [
        ([("Content-Length", "1"), ("Content-Length", "2")], "HTTP/1.1", 400),
        ([("Content-Length", "")], "HTTP/1.1", 400),
        ([("Content-Length", "-1")], "HTTP/1.1", 400),
        ([("Content-Length", "\u0665")], "HTTP/1.1", 400),  # a digit, not an ASCII one
        ([("Content-Length", "1" * 19)], "HTTP/1.1", 400),
        ([("Transfer-Encoding", "chunked")], "HTTP/1.0", 400),
        ([("Transfer-Encoding", "chunked, identity")], "HTTP/1.1", 400),
        ([("Transfer-Encoding", "chunked,")], "HTTP/1.1", 400),
        ([("Transfer-Encoding", "identity")], "HTTP/1.1", 400),
        ([("Transfer-Encoding", "gzip"), ("Transfer-Encoding", "chunked")], "HTTP/1.1", 501),
    ],
)
def test_ambiguous_framing_is_refused(pairs, version, status):
    with pytest.raises(HeadError) as refused:
        body_framing(pairs, version)
    assert refused.value.status_hint == status
