"""The forwarding codecs: the replayed request, the owner's response head, chunked bodies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketio.relay import (
    ChunkDecoder,
    ForwardAddress,
    RelayError,
    build_request,
    parse_forward_address,
    parse_response_head,
)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("unix:/run/sio/a.sock", ForwardAddress("unix", "/run/sio/a.sock")),
        ("127.0.0.1:9000", ForwardAddress("tcp", "127.0.0.1", 9000)),
        ("[::1]:9000", ForwardAddress("tcp", "::1", 9000)),
        ("backend-3.internal:0", ForwardAddress("tcp", "backend-3.internal", 0)),
        (("10.0.0.5", 9001), ForwardAddress("tcp", "10.0.0.5", 9001)),
    ],
)
def test_forward_addresses_read_and_print_back(text, address):
    assert parse_forward_address(text) == address
    if isinstance(text, str):
        assert str(address) == text


@pytest.mark.parametrize(
    "text",
    ["0.0.0.0:9000", "[::]:9000", ":9000", "unix:relative.sock", "host", "host:http", "h:70000",
     ("0.0.0.0", 1), ("h",), 42],
)  # fmt: skip
def test_wildcards_and_nonsense_are_not_forward_addresses(text):
    with pytest.raises(ValueError):  # noqa: PT011 (each its own message)
        parse_forward_address(text)


def test_the_replayed_request_keeps_the_end_to_end_headers_only():
    environ = {
        "HTTP_HOST": "example.com",
        "HTTP_ORIGIN": "http://example.com",
        "HTTP_COOKIE": "a=1",
        "HTTP_CONNECTION": "keep-alive",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "HTTP_X_SOCKETIO_FORWARDED": "1.2.3.4 forged",
        "HTTP_X_EVIL": "a\r\nInjected: yes",
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": "999",
        "REMOTE_ADDR": "10.0.0.9",
    }
    raw = build_request("POST", "/socket.io/1/xhr-polling/abc?t=1", environ, b"1::", "10.0.0.9 sig")
    head, body = raw.split(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /socket.io/1/xhr-polling/abc?t=1 HTTP/1.1"
    assert sorted(lines[1:]) == sorted(
        [
            "Host: example.com",
            "Origin: http://example.com",
            "Cookie: a=1",
            "Content-Type: text/plain",
            "X-Socketio-Forwarded: 10.0.0.9 sig",
            "Content-Length: 3",
            "Connection: close",
        ]
    )
    assert body == b"1::"


def test_a_response_head_is_read_once_complete():
    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
        b"Connection: close\r\nDate: x\r\nAccess-Control-Allow-Origin: *\r\n"
        b"X-Socketio-Owner: 0123abcd\r\n\r\n1::"
    )
    assert parse_response_head(raw[:20]) is None
    head = parse_response_head(raw)
    assert head is not None
    assert (head.status, head.length, head.chunked, head.owner) == (200, 3, False, "0123abcd")
    assert head.headers == [("Content-Type", "text/plain"), ("Access-Control-Allow-Origin", "*")]
    assert raw[head.size :] == b"1::"
    chunked = parse_response_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert chunked is not None
    assert chunked.chunked
    assert chunked.length is None


@pytest.mark.parametrize(
    "raw",
    [
        b"SPDY 200 OK\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 999 Nope\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 65 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"y" * 20000,
    ],
)
def test_a_malformed_or_endless_head_is_an_error(raw):
    with pytest.raises(RelayError):
        parse_response_head(raw)


def _chunked(pieces: list[bytes]) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return out + b"0\r\n\r\n"


@given(st.lists(st.binary(max_size=300), max_size=8), st.lists(st.integers(1, 50), max_size=40))
def test_chunked_bodies_decode_whatever_the_cuts(pieces, cuts):
    wire = _chunked(pieces)
    decoder = ChunkDecoder()
    out: list[bytes] = []
    position = 0
    for cut in [*cuts, len(wire)]:
        out += decoder.feed(wire[position : position + cut])
        position += cut
        if position >= len(wire):
            break
    out += decoder.feed(wire[position:])
    assert b"".join(out) == b"".join(pieces)
    assert decoder.done


@pytest.mark.parametrize("wire", [b"zz\r\n", b"3\r\nabcXY\r\n", b"1" * 80])
def test_bad_chunk_framing_is_an_error(wire):
    decoder = ChunkDecoder()

    def feed_twice() -> None:  # (the fault is told once the payload before it is out)
        decoder.feed(wire)
        decoder.feed(b"")

    with pytest.raises(RelayError):
        feed_twice()


def test_the_payload_before_a_fault_is_given_then_the_fault():
    decoder = ChunkDecoder()
    assert decoder.feed(b"3\r\n8::\r\nzz\r\n") == [b"8::"]
    with pytest.raises(RelayError, match="bad chunk size"):
        decoder.feed(b"more")
