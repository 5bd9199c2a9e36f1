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
    referer_origin,
    text_response,
    valid_origin,
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
        # restricted origins refuse a request that tells no origin (as the 0.9 reference)
        (None, "example.com:80", False),
        ("", "example.com:80", False),
        (None, "*:*", True),
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
        # not serialized origins: refused, whatever their host
        ("http://example.com/", "example.com:80", False),
        ("http://example.com/path", "example.com:80", False),
        ("http://example.com\r\nX-Evil: 1", "example.com:80", False),
        ("http://example.com:80\r", "example.com:80", False),
        ("http://exa mple.com", "*:80", False),
        (" http://example.com", "example.com:80", False),
        ("http://user@example.com", "example.com:80", False),
        ("http://example.com:123456", "example.com:*", False),
        ("http://" + "a" * 300, "*:80", False),
        ("http://\u00e9xample.com", "*:80", False),
        # ... but anything goes with '*:*'
        ("http://example.com\r\nX-Evil: 1", "*:*", True),
    ],
)
def test_origin_allowed(origin, origins, allowed):
    assert origin_allowed(origin, origins) is allowed


@pytest.mark.parametrize(
    ("referer", "origins", "allowed"),
    [
        ("http://example.com/page.html", "example.com:80", True),
        ("http://example.com:8080/a/b?c=d#e", "example.com:8080", True),
        ("http://example.com:8080/", "http://example.com:8080", True),
        ("https://example.com/", "http://example.com:443", False),
        ("https://example.com/", "example.com:443", True),
        ("HTTP://User:Pass@EXAMPLE.com/x", "example.com:80", True),
        ("http://[::1]:8080/", "::1:8080", True),
        ("http://evil.com/http://example.com/", "example.com:80", False),
        ("http://example.com.evil.net/", "example.com:*", False),
        ("/relative/page.html", "example.com:80", False),
        ("example.com", "example.com:80", False),
        ("http://example.com:notaport/", "example.com:*", False),
        ("http://example.com:99999/", "example.com:*", False),
        ("", "example.com:80", False),
        (None, "example.com:80", False),
        ("garbage\r\n", "*:*", True),
    ],
)
def test_referer_stands_for_a_missing_origin(referer, origins, allowed):
    assert origin_allowed(None, origins, referer) is allowed
    assert origin_allowed("", origins, referer) is allowed


def test_origin_wins_over_referer():
    # a present Origin is the one judged, as in the 0.9 reference
    assert not origin_allowed("http://evil.com", "example.com:80", "http://example.com/")
    assert origin_allowed("http://example.com", "example.com:80", "http://evil.com/")
    assert not origin_allowed("null", "example.com:80", "http://example.com/")


@pytest.mark.parametrize(
    ("referer", "origin"),
    [
        ("http://example.com/page", "http://example.com"),
        ("https://Example.COM:8443/p?q", "https://example.com:8443"),
        ("http://[::1]:80/", "http://[::1]:80"),
        ("http://u:p@h.com/", "http://h.com"),
        ("ftp://files.example.com/x", "ftp://files.example.com"),
        ("about:blank", None),
        ("not a url", None),
        ("http:///nohost", None),
        ("http://a b.com/", None),
        ("http://h.com:65536/", None),
        ("", None),
        (None, None),
        ("http://" + "a" * 9000 + ".com/", None),
    ],
)
def test_referer_origin(referer, origin):
    assert referer_origin(referer) == origin


@pytest.mark.parametrize(
    ("origin", "valid"),
    [
        ("http://example.com", True),
        ("https://example.com:8443", True),
        ("http://[::1]:8080", True),
        ("chrome-extension://abcdef", True),
        ("http://EXAMPLE.com", True),
        ("null", True),
        ("", False),
        (None, False),
        ("http://example.com/", False),
        ("http://example.com\r", False),
        ("http://example.com\nX: y", False),
        ("http://example.com\x00", False),
        ("http://exa mple.com", False),
        ('http://example.com"', False),
        ("http://ex<ample>.com", False),
        ("example.com", False),
        ("http://", False),
        ("http://example.com:", False),
        ("http://example.com:123456", False),
        ("http://\u00e9.com", False),
        ("http://" + "a" * 300, False),
    ],
)
def test_valid_origin(origin, valid):
    assert valid_origin(origin) is valid


@given(st.text(max_size=80))
def test_only_valid_origins_are_echoed(origin):
    headers = cors_headers(origin)
    if valid_origin(origin):
        assert headers[0] == ("Access-Control-Allow-Origin", origin)
    else:
        assert headers == []
    for _, value in headers:
        assert value.isascii()
        assert value.isprintable()
        assert "\r" not in value
        assert "\n" not in value


@given(
    st.one_of(st.none(), st.text(max_size=60)),
    st.one_of(st.none(), st.text(max_size=60)),
    st.sampled_from(["example.com:80", "*:8080", "http://example.com", "example.com:*"]),
)
def test_origin_allowed_never_fails_and_needs_an_origin(origin, referer, origins):
    allowed = origin_allowed(origin, origins, referer)
    if allowed:
        told = origin if origin else referer_origin(referer)
        assert valid_origin(told)
        assert told != "null"


def test_cors_headers():
    assert cors_headers("http://example.com") == [
        ("Access-Control-Allow-Origin", "http://example.com"),
        ("Access-Control-Allow-Credentials", "true"),
    ]
    assert cors_headers(None) == []
    assert cors_headers("") == []
    # never client text that is not an origin: no header injection, no 500
    assert cors_headers("http://example.com\r\nSet-Cookie: x=1") == []
    assert cors_headers("http://example.com/path") == []
    assert cors_headers("http://" + "a" * 400) == []
    assert cors_headers("null") == [
        ("Access-Control-Allow-Origin", "null"),
        ("Access-Control-Allow-Credentials", "true"),
    ]


def test_text_response_says_nosniff():
    response = text_response(200, "io.j[0]('x');", "http://example.com", "text/javascript")
    assert ("X-Content-Type-Options", "nosniff") in response.headers
    assert ("Access-Control-Allow-Origin", "http://example.com") in response.headers
    bad = text_response(400, "bad", "http://a\rb")
    assert [name for name, _ in bad.headers if name.startswith("Access-Control")] == []
