"""``SocketIOHandler`` reads a request as pywsgi's own handler does: same headers, same environ.

Its quick paths (the whole head split at once, headers indexed in a dict, the
environ built from that index) are checked here against
``gevent.pywsgi.WSGIHandler`` reading the very same bytes.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from gevent.pywsgi import Input, WSGIHandler, WSGIServer
from hypothesis import given, settings
from hypothesis import strategies as st

from socketio.handler import READ_BUFFER_SIZE, SocketIOHandler
from socketio.httpheaders import HeadError
from socketio.pywsgiprivate import Headers, InvalidClientInput
from socketio.server import SocketIOServer


def _app(environ: dict, start_response: Any) -> list[bytes]:
    return []


class _Socket:
    """Enough of a socket for a handler that only reads its request from ``rfile``."""

    def makefile(self, *args: Any) -> io.BytesIO:
        return io.BytesIO()


@pytest.fixture(scope="module")
def servers() -> tuple[SocketIOServer, WSGIServer]:
    ours = SocketIOServer(("127.0.0.1", 0), _app, policy_server=False, log=None)
    stock = WSGIServer(("127.0.0.1", 0), _app, log=None)
    for server in (ours, stock):
        server.init_socket()
    yield ours, stock
    for server in (ours, stock):
        server.close()


def _read(cls: type, server: Any, raw: bytes) -> tuple[Any, dict]:
    """A handler of ``cls`` that has read the request in ``raw``, and its environ."""
    rfile = io.BufferedReader(io.BytesIO(raw), READ_BUFFER_SIZE)
    if cls is SocketIOHandler:
        handler = cls(server.config, _Socket(), ("10.0.0.7", 4321), server, rfile=rfile)
    else:
        handler = cls(_Socket(), ("10.0.0.7", 4321), server, rfile=rfile)
    line = handler.read_requestline()
    handler.requestline = line
    assert handler.read_request(line)
    return handler, handler.get_environ()


def _comparable(environ: dict) -> dict:
    """The environ with its input stream reduced to what it reads and how."""
    out = dict(environ)
    stream = out.pop("wsgi.input")
    if isinstance(stream, Input):
        sends_continue = stream.socket is not None  # (the handler's own socket)
        out["wsgi.input"] = ("Input", stream.content_length, stream.chunked_input, sends_continue)
    else:
        out["wsgi.input"] = type(stream).__name__
    return out


def assert_read_alike(servers: tuple, raw: bytes) -> Any:
    ours_server, stock_server = servers
    ours, ours_env = _read(SocketIOHandler, ours_server, raw)
    stock, stock_env = _read(WSGIHandler, stock_server, raw)
    # the servers differ in their base environ (SERVER_PORT, SERVER_SOFTWARE...)
    for key in set(ours_server.get_environ()) | set(stock_server.get_environ()):
        ours_env.pop(key, None)
        stock_env.pop(key, None)
    assert _comparable(ours_env) == _comparable(stock_env)
    assert list(ours_env) == list(stock_env)  # in the same order, too
    assert ours.headers.items() == stock.headers.items()
    for attr in ("command", "path", "request_version", "content_length", "close_connection"):
        assert getattr(ours, attr) == getattr(stock, attr), attr
    # what follows the head is left for the body
    assert ours.rfile.read() == stock.rfile.read()
    return ours


BODY = b'5:1+::{"name":"echo","args":[1]}'
BROWSER_HEAD = (
    b"Host: example.com:8080\r\nConnection: keep-alive\r\nContent-Length: %d\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nContent-Type: text/plain;charset=UTF-8\r\n"
    b"Accept: */*\r\nOrigin: http://example.com:8080\r\nCookie: a=1\r\nCookie: b=2\r\n"
    b"X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n\r\n" % len(BODY)
)


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /socket.io/1/ HTTP/1.1\r\n\r\n",
        b"GET /socket.io/1/?t=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /socket.io/1/xhr-polling/abc?t=1&x=%20 HTTP/1.1\r\n" + BROWSER_HEAD + BODY,
        b"GET /a%20b/%C3%A9?q=%20 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nabcd",
        b"GET /socket.io/1/websocket/abc HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        b"GET / HTTP/1.1\r\nX_Forged: 1\r\nX-Empty:\r\nX-Tab:\tv \r\n\r\n",
    ],
)
def test_request_read_as_pywsgi_reads_it(servers, raw):
    assert_read_alike(servers, raw)


def test_both_lengths_read_as_chunked_and_the_connection_closes_after(servers):
    # RFC 9112 §6.1: Transfer-Encoding overrides Content-Length, and such a
    # request (a smuggling attempt, maybe) closes its connection
    raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
    ours, environ = _read(SocketIOHandler, servers[0], raw + b"4\r\nabcd\r\n0\r\n\r\n")
    stock, _ = _read(WSGIHandler, servers[1], raw + b"4\r\nabcd\r\n0\r\n\r\n")
    assert environ["wsgi.input"].chunked_input
    assert "CONTENT_LENGTH" not in environ
    assert ours.close_connection
    assert not stock.close_connection
    assert environ["wsgi.input"].read() == b"abcd"


REFUSED = [
    # framing a proxy in front could read otherwise (RFC 9112)
    (b"GET / HTTP/1.1\nHost: x\n\n", 400),  # bare LF endings
    (b"GET / HTTP/1.1\r\nHost: x\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400),  # a lone CR
    (b"GET / HTTP/1.1\r\nX-Folded: a\r\n b\r\n\r\n", 400),  # obs-fold
    (b"GET / HTTP/1.1\r\nBad Name: x\r\nHost: y\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : y\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\n", 400),  # cut off before its end
    (b"GET  / HTTP/1.1\r\n\r\n", 400),
    (b"GET\t/ HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\n\r\n", 400),
    (b"GET /a\x0bb HTTP/1.1\r\n\r\n", 400),
    (b"GET /\r\n\r\n", 400),  # HTTP/0.9
    (b"POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 4, 5\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: +4\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: -4\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 4 4\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 0x4\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 1_0\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    # too much to hold
    (b"GET / HTTP/1.1\r\n" + b"X: %s\r\n" % (b"v" * 40000) * 2 + b"\r\n", 431),
]


@pytest.mark.parametrize(("raw", "status"), REFUSED)
def test_an_ambiguous_or_malformed_head_is_refused(servers, raw, status):
    with pytest.raises(HeadError) as refused:
        _read(SocketIOHandler, servers[0], raw)
    assert refused.value.status_hint == status


def test_an_empty_line_before_a_request_is_ignored(servers):
    _, environ = _read(SocketIOHandler, servers[0], b"\r\nGET /x HTTP/1.1\r\n\r\n")
    assert environ["PATH_INFO"] == "/x"


def test_a_head_longer_than_the_buffer_is_read_line_by_line(servers):
    head = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 60) for i in range(60))
    assert len(head) > READ_BUFFER_SIZE
    handler = assert_read_alike(servers, b"GET / HTTP/1.1\r\n" + head + b"\r\n")
    assert type(handler.headers) is Headers
    assert len(handler.headers.items()) == 60


@pytest.mark.parametrize(("count", "refused"), [(99, False), (100, True)])
def test_the_header_count_limit_holds_on_the_quick_path(servers, count, refused):
    head = b"".join(b"X-%d: v\r\n" % i for i in range(count))
    assert len(head) < READ_BUFFER_SIZE  # all in one buffer: the quick path
    raw = b"GET / HTTP/1.1\r\n" + head + b"\r\n"
    if not refused:
        assert_read_alike(servers, raw)
        return
    # (pywsgi lets http.client's HTTPException escape; ours answers 400)
    with pytest.raises(ValueError, match="more than 100 headers"):
        _read(SocketIOHandler, servers[0], raw)


names = st.sampled_from(
    ["Host", "host", "Content-Type", "Content-Length", "Connection", "Upgrade", "Cookie",
     "Expect", "Transfer-Encoding", "X-A", "x-a", "X_B", "Origin"]
)  # fmt: skip
values = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=12)


@settings(max_examples=300)
@given(
    st.lists(st.tuples(names, values), max_size=8),
    st.sampled_from(["GET", "POST", "OPTIONS", "HEAD"]),
    st.sampled_from(["/", "/socket.io/1/xhr-polling/x?t=1", "/%41%e9/?%20=1", "/a?b?c"]),
)
def test_any_plain_head_read_as_pywsgi_reads_it(servers, pairs, method, path):
    head = "".join(f"{name}: {value}\r\n" for name, value in pairs).encode("latin-1")
    raw = f"{method} {path} HTTP/1.1\r\n".encode() + head + b"\r\n"
    lengths = [v.strip() for n, v in pairs if n.lower() == "content-length"]
    strict = (
        "\x7f" in head.decode("latin-1")  # a control character
        or any(n.lower() == "transfer-encoding" for n, _ in pairs)
        or len(set(lengths)) > 1
        or any(not (v.isascii() and v.isdigit()) for v in lengths)
    )
    if strict:  # ours may refuse what pywsgi reads (and refuses nothing it reads alike)
        try:
            _read(SocketIOHandler, servers[0], raw)
        except HeadError:
            return
    try:
        _read(WSGIHandler, servers[1], raw)
    except ValueError:  # pywsgi refuses it (a bad Content-Length): so must we
        # (pywsgi says "Invalid ..." or "Unexpected Content-Length")
        with pytest.raises(ValueError, match=r"Content-Length|[Ii]nvalid"):
            _read(SocketIOHandler, servers[0], raw)
        return
    assert_read_alike(servers, raw)


def test_changed_headers_are_looked_up_afresh():
    headers = Headers([("Host", "a"), ("Content-Length", "3"), ("host", "b")])
    assert headers.get("HOST") == "a"
    assert headers["content-length"] == "3"
    assert "Host" in headers
    assert "Nope" not in headers
    del headers["content-length"]
    assert headers.get("Content-Length") is None
    headers["X-New"] = "1"
    assert headers.get("x-new") == "1"
    headers.replace_header("Host", "c")
    assert headers.get("host") == "c"
    headers.set_raw("X-Raw", "2")
    assert headers["X-RAW"] == "2"
    headers._headers = [("Only", "this")]  # as email's set_boundary does
    assert headers.get("only") == "this"
    assert headers.get("host") is None


# -- chunked bodies ------------------------------------------------------------------


def _chunked(raw: bytes) -> Any:
    from socketio.httpreader import ChunkedInput

    return ChunkedInput(io.BufferedReader(io.BytesIO(raw), READ_BUFFER_SIZE))


def test_a_chunked_body_reads_as_pywsgi_reads_it():
    raw = b"5\r\nab\ncd\r\n3;name=value\r\nefg\r\n0\r\nX-Trailer: v\r\n\r\nNEXT"
    stock = Input(io.BufferedReader(io.BytesIO(raw)), None, chunked_input=True)
    assert _chunked(raw).read() == stock.read() == b"ab\ncdefg"
    ours = _chunked(raw)
    assert [ours.readline(), ours.read(2), ours.read(), ours.read()] == [
        b"ab\n",
        b"cd",
        b"efg",
        b"",
    ]
    assert ours.rfile.read() == b"NEXT"  # the next request is left where it starts
    assert ours.chunk_length == 0  # (what the sweep reads as "body read")


@pytest.mark.parametrize(
    "raw",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # not a size
        b"-1\r\n",
        b"+4\r\nabcd\r\n0\r\n\r\n",
        b"4\nabcd\r\n0\r\n\r\n",  # a bare LF
        b"4\r\nabcdX\r\n0\r\n\r\n",  # more than announced
        b"4\r\nab",  # cut short
        b"1;" + b"e" * 2000 + b"\r\nx\r\n0\r\n\r\n",  # a long extension
        b"1;a\rb\r\nx\r\n0\r\n\r\n",  # a lone CR in it
        b"".join(b"1;abc\r\nx\r\n" for _ in range(10000)) + b"0\r\n\r\n",  # framing >> data
        b"0\r\nBad Trailer\r\n\r\n",
        b"0\r\n" + b"a: b\r\n" * 200 + b"\r\n",  # endless trailers
        b"0\r\n" + b"a: " + b"b" * 70000 + b"\r\n\r\n",
    ],
)
def test_a_malformed_or_abusive_chunked_body_is_refused(raw):
    # pywsgi's _InvalidClientInput: a 400, and the connection closes
    with pytest.raises(InvalidClientInput, match=r"chunk|trailer"):
        _chunked(raw).read()
