"""socketio.protocol: URL classification, handshake text, origins and CORS."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketio.protocol import (
    PROTOCOL_VERSION,
    ClientScript,
    Exchange,
    ForcedDisconnect,
    Handshake,
    Refused,
    Welcome,
    cors_headers,
    handshake_body,
    origin_allowed,
    parse_query,
    parse_request,
)


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        # not ours: the WSGI application gets these untouched
        ("/", "", None),
        ("/chat", "", None),
        ("/socket.iox/1/", "", None),
        ("/other/socket.io/1/", "", None),
        ("/socket.ioo", "", None),
        # welcome
        ("/socket.io", "", Welcome()),
        ("/socket.io/", "", Welcome()),
        # the browser client script
        ("/socket.io/socket.io.js", "", ClientScript("socket.io.js")),
        ("/socket.io/socket.io.min.js", "", ClientScript("socket.io.min.js")),
        # handshake
        ("/socket.io/1/", "", Handshake()),
        ("/socket.io/1", "", Handshake()),
        ("/socket.io/1/", "t=1356000000000", Handshake()),
        ("/socket.io/1/", "t=1&token=abc", Handshake(jsonp=None)),
        ("/socket.io/1/", "t=1&jsonp=0", Handshake(jsonp=0)),
        ("/socket.io/1/", "jsonp=17", Handshake(jsonp=17)),
        ("/socket.io/1//", "", Handshake()),
        # bad jsonp index
        ("/socket.io/1/", "jsonp=abc", Refused(400, "invalid jsonp index")),
        ("/socket.io/1/", "jsonp=", Refused(400, "invalid jsonp index")),
        ("/socket.io/1/", "jsonp=-1", Refused(400, "invalid jsonp index")),
        ("/socket.io/1/", "jsonp=1);alert(1", Refused(400, "invalid jsonp index")),
        ("/socket.io/1/", "jsonp=1234567890", Refused(400, "invalid jsonp index")),
        # protocol versions
        ("/socket.io/2/", "", Refused(500, "Protocol version not supported.")),
        ("/socket.io/0/xhr-polling/abc", "", Refused(500, "Protocol version not supported.")),
        ("/socket.io/nope", "", Refused(404, "Not found")),
        # transports
        ("/socket.io/1/websocket/abc123", "", Exchange("websocket", "abc123")),
        ("/socket.io/1/flashsocket/abc123", "", Exchange("flashsocket", "abc123")),
        ("/socket.io/1/xhr-polling/abc123", "t=1", Exchange("xhr-polling", "abc123")),
        ("/socket.io/1/xhr-polling/abc123/", "t=1", Exchange("xhr-polling", "abc123")),
        ("/socket.io/1/htmlfile/abc123", "", Exchange("htmlfile", "abc123")),
        ("/socket.io/1/xhr-multipart/abc123", "", Exchange("xhr-multipart", "abc123")),
        (
            "/socket.io/1/jsonp-polling/abc123",
            "t=1&i=3",
            Exchange("jsonp-polling", "abc123", jsonp=3),
        ),
        ("/socket.io/1/jsonp-polling/abc123", "t=1", Exchange("jsonp-polling", "abc123", jsonp=0)),
        ("/socket.io/1/jsonp-polling/abc123", "i=x", Refused(400, "invalid jsonp index")),
        # 'i' only means something to jsonp-polling
        ("/socket.io/1/xhr-polling/abc123", "i=x", Exchange("xhr-polling", "abc123")),
        # unknown transport names are classified; the handler refuses them
        ("/socket.io/1/carrier-pigeon/abc123", "", Exchange("carrier-pigeon", "abc123")),
        # malformed transport URLs
        ("/socket.io/1/xhr-polling", "", Refused(400, "bad request")),
        ("/socket.io/1/xhr-polling/", "", Refused(400, "bad request")),
        ("/socket.io/1/xhr-polling/abc/extra", "", Refused(400, "bad request")),
        ("/socket.io/1/xhr-polling//", "", Refused(400, "bad request")),
        # forced disconnect, as the 0.9.16 client sends it on page unload
        ("/socket.io/1//abc123/", "disconnect=1", ForcedDisconnect("", "abc123")),
        (
            "/socket.io/1/xhr-polling/abc123",
            "disconnect",
            ForcedDisconnect("xhr-polling", "abc123"),
        ),
        (
            "/socket.io/1/jsonp-polling/abc123",
            "i=x&disconnect=",
            ForcedDisconnect("jsonp-polling", "abc123"),
        ),
        (
            "/socket.io/1/websocket/abc123",
            "t=2&disconnect=1",
            ForcedDisconnect("websocket", "abc123"),
        ),
    ],
)
def test_parse_request(path, query, expected):
    assert parse_request(path, query, "socket.io") == expected


def test_parse_request_other_resource():
    assert parse_request("/socket.io/1/", "", "rt") is None
    assert parse_request("/rt/1/", "", "rt") == Handshake()
    assert parse_request("/my/app/1/xhr-polling/s", "", "my/app") == Exchange("xhr-polling", "s")


def test_request_kinds_are_frozen_values():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Handshake().jsonp = 3  # type: ignore[misc]
    assert Exchange("websocket", "a") == Exchange("websocket", "a", jsonp=None)
    assert PROTOCOL_VERSION == "1"


@given(st.text(alphabet="ab=&%+;é2F \x00", max_size=30))
def test_parse_query_is_parse_qs(query):
    expected = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    assert parse_query(query) == expected


def test_parse_query():
    assert parse_query("") == {}
    assert parse_query("a=1&b=2&a=3") == {"a": "3", "b": "2"}
    assert parse_query("disconnect") == {"disconnect": ""}
    assert parse_query("x=%C3%A9+y") == {"x": "é y"}


@pytest.mark.parametrize(
    ("args", "body"),
    [
        (
            ("4d4f185e96a7b", 60, 60, ["websocket", "xhr-polling"]),
            "4d4f185e96a7b:60:60:websocket,xhr-polling",
        ),
        (("sid", 60.0, 25.0, ("websocket",)), "sid:60:25:websocket"),
        (("sid", 12.5, 0.25, ["xhr-polling"]), "sid:12.5:0.25:xhr-polling"),
        (("sid", 60, 60, []), "sid:60:60:"),
    ],
)
def test_handshake_body(args, body):
    assert handshake_body(*args) == body


@pytest.mark.parametrize(
    ("origin", "origins", "allowed"),
    [
        ("http://example.com", "*:*", True),
        ("null", "*:*", True),
        (None, "example.com:80", True),
        ("", "example.com:80", True),
        ("http://example.com", "example.com:80", True),
        ("http://example.com:80", "example.com:80", True),
        ("https://example.com", "example.com:80", False),
        ("https://example.com", "example.com:443", True),
        ("http://example.com:8080", "example.com:80", False),
        ("http://example.com:8080", "example.com:*", True),
        ("http://example.com:8080", "example.com", True),
        ("http://other.com", "example.com:*", False),
        ("http://other.com:81", "*:81", True),
        ("http://other.com:82", "*:81", False),
        ("http://EXAMPLE.com", "example.com:80", True),
        ("http://b.com", "a.com:80 b.com:80", True),
        ("http://b.com", "a.com:80,b.com:80", True),
        ("http://b.com", ["a.com:80", "b.com:80"], True),
        ("http://c.com", ("a.com:80", "b.com:80"), False),
        ("http://example.com:8080", "http://example.com:8080", True),
        ("https://example.com:8080", "http://example.com:8080", False),
        ("http://example.com", "http://example.com:80", True),
        ("http://[::1]:8080", "::1:8080", True),
        ("null", "example.com:80", False),
        ("http://example.com:notaport", "example.com:*", False),
        ("http://example.com", [], False),
        ("http://example.com", "*", True),
    ],
)
def test_origin_allowed(origin, origins, allowed):
    assert origin_allowed(origin, origins) is allowed


def test_cors_headers():
    assert cors_headers("http://example.com") == [
        ("Access-Control-Allow-Origin", "http://example.com"),
        ("Access-Control-Allow-Credentials", "true"),
    ]
    assert cors_headers(None) == []
    assert cors_headers("") == []
