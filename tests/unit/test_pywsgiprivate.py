"""The guard of :mod:`socketio.pywsgiprivate`: pywsgi's insides it leans on, and what it writes.

Each of the private names the module uses is checked to exist (a gevent
upgrade that renames one fails here, by name), and the answers its
``_send_whole`` writes in one piece are compared with what stock pywsgi
writes for the same response through ``start_response`` and ``write``.
The request side (headers, environ) is compared in test_request_reading.py.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from gevent import pywsgi
from gevent.pywsgi import Input, OldMessage, WSGIHandler, WSGIServer

from socketio.httpreader import READ_BUFFER_SIZE
from socketio.pywsgiprivate import (
    HANDLER_ATTRIBUTES,
    Headers,
    InvalidClientInput,
    client_caused,
)
from socketio.server import SocketIOServer


def test_the_private_names_used_still_exist():
    assert InvalidClientInput is pywsgi._InvalidClientInput
    for name in ("_check_http_version", "_headers", "_handle_client_error", "_sendall"):
        assert callable(getattr(WSGIHandler, name)), name
    for name in ("_send_100_continue", "_do_read", "_chunked_read"):
        assert callable(getattr(Input, name)), name
    assert "_chunked_input_error" in Input.__slots__
    assert "chunk_length" in Input.__slots__
    assert OldMessage()._headers == []


def test_every_attribute_a_handler_gets_is_in_the_shared_table():
    assert len(set(HANDLER_ATTRIBUTES)) == len(HANDLER_ATTRIBUTES)
    assert {"socket", "rfile", "_orig_status", "websocket"} <= set(HANDLER_ATTRIBUTES)


def test_errors_of_the_clients_making():
    # (pywsgi's own error for a bad chunk line, whatever its class)
    with pytest.raises(Exception, match=r"Non-hex data|invalid chunk") as info:
        Input(io.BytesIO(b"zz\r\n"), None, chunked_input=True).read()
    assert client_caused(info.value, info.value.__traceback__)
    assert client_caused(ConnectionResetError(104, "reset"), None)
    assert not client_caused(KeyError("bug"), None)


def test_headers_index_follows_changes_made_through_email():
    headers = Headers([("Host", "a"), ("X-A", "1")])
    assert headers["host"] == "a"
    assert "x-a" in headers
    headers["X-B"] = "2"
    assert headers.get("x-b") == "2"
    headers.replace_header("X-A", "3")
    assert headers["X-A"] == "3"
    assert headers.pairs() == [("Host", "a"), ("X-A", "3"), ("X-B", "2")]


class _Sink:
    """A connection that keeps what is written to it."""

    def __init__(self) -> None:
        self.data = b""

    def makefile(self, *args: Any) -> io.BytesIO:
        return io.BytesIO()

    def send(self, data: Any, *args: Any) -> int:
        self.data += bytes(data)
        return len(data)

    def sendall(self, data: Any, *args: Any) -> None:
        self.data += bytes(data)


def _parts(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """Status line, header lines (pywsgi orders ``Date`` and ``Connection`` otherwise), body."""
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    return status, sorted(lines), body


@pytest.fixture(scope="module")
def servers():
    def app(environ: dict, start_response: Any) -> list[bytes]:
        return []

    ours = SocketIOServer(("127.0.0.1", 0), app, policy_server=False, log=None)
    stock = WSGIServer(("127.0.0.1", 0), app, log=None)
    yield ours, stock
    for server in (ours, stock):
        server.close()


def _handler(cls: type, server: Any, raw: bytes) -> tuple[Any, _Sink]:
    sink = _Sink()
    rfile = io.BufferedReader(io.BytesIO(raw), READ_BUFFER_SIZE)
    if cls is WSGIHandler:
        handler = cls(sink, ("10.0.0.7", 4321), server, rfile=rfile)
    else:
        handler = cls(server.config, sink, ("10.0.0.7", 4321), server, rfile=rfile)
    line = handler.read_requestline()
    handler.requestline = line
    assert handler.read_request(line)
    handler.environ = handler.get_environ()
    return handler, sink


@pytest.mark.parametrize(
    ("request_head", "status", "headers", "body"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200, [("Content-Type", "text/plain")], b"hello"),
        (b"GET / HTTP/1.0\r\nHost: a\r\n\r\n", 200, [("Content-Type", "text/plain")], b"hi"),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            404,
            [("Content-Type", "text/plain"), ("Content-Length", "2")],
            b"no",
        ),
        (b"GET / HTTP/1.1\r\n\r\n", 400, [("Connection", "close")], b""),
        (b"GET / HTTP/1.1\r\n\r\n", 304, [("ETag", '"x"')], b""),
        (b"GET / HTTP/1.1\r\n\r\n", 200, [["Content-Type", "text/plain"]], b"a list"),
    ],
)
def test_a_whole_answer_is_what_pywsgi_writes(
    servers, monkeypatch, request_head, status, headers, body
):
    from socketio.handler import SocketIOHandler
    from socketio.httpresponse import status_line

    monkeypatch.setattr(pywsgi, "format_date_time", lambda *a: b"Thu, 01 Jan 1970 00:00:00 GMT")
    monkeypatch.setattr(
        "socketio.httpresponse.date_header", lambda: ("Date", "Thu, 01 Jan 1970 00:00:00 GMT")
    )
    monkeypatch.setattr(
        "socketio.pywsgiprivate.date_header", lambda: ("Date", "Thu, 01 Jan 1970 00:00:00 GMT")
    )
    ours, ours_sink = _handler(SocketIOHandler, servers[0], request_head)
    stock, stock_sink = _handler(WSGIHandler, servers[1], request_head)
    ours._send_whole(status, list(headers), body)
    stock.start_response(status_line(status), list(headers))
    stock.result = [body]  # (a WSGI application's answer: its length is known)
    stock.process_result()
    assert _parts(ours_sink.data) == _parts(stock_sink.data)
    assert ours.close_connection == stock.close_connection
    assert (ours.code, ours.status, ours.response_length) == (
        stock.code,
        stock.status,
        stock.response_length,
    )
    assert sorted(ours.response_headers) == sorted(stock.response_headers)


def test_a_head_is_checked_and_remembered_whole():
    from socketio.httpresponse import head_lines

    headers = [("Content-Type", "text/plain"), ("Connection", "Close"), ("Content-Length", "1")]
    first = head_lines(headers)
    assert first.text == "Content-Type: text/plain\r\nConnection: Close\r\nContent-Length: 1\r\n"
    assert (first.connection, first.length_given) == ("close", True)
    assert head_lines(list(headers)) is first  # (one lookup for the whole head)
    with pytest.raises(ValueError, match="newline in header"):
        head_lines([("X-A", "b\r\nSet-Cookie: c")])
