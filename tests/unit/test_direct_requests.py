"""Which requests ``SocketIOHandler`` serves directly (no WSGI environ from the server, no application).

``_serve_directly`` takes a GET or POST of a connected polling session; any
other request goes pywsgi's whole way. Either way the answer is the same
(``tests/integration/test_direct_polling.py`` compares them on the wire).
"""

from __future__ import annotations

from typing import Any

import gevent.socket
import pytest

from socketio.handler import SocketIOHandler
from socketio.server import SocketIOServer


def _app(environ: dict, start_response: Any) -> list[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


@pytest.fixture
def server():
    server = SocketIOServer(("127.0.0.1", 0), _app, policy_server=False, log=None)
    server.init_socket()
    yield server
    for session in list(server.sockets.values()):
        session.kill(detach=True)
    server.close()


def _polling_session(server: SocketIOServer, transport: str = "xhr-polling") -> str:
    session = server.get_socket()
    session.connection_established = True  # (as its first GET leaves it)
    session.transport_name = transport
    return session.sessid


def _serve(
    server: SocketIOServer, raw: bytes, cls: type[SocketIOHandler] = SocketIOHandler
) -> tuple[SocketIOHandler, bytes]:
    """A handler of ``cls`` that has served the one request in ``raw``, and what it answered."""
    ours, theirs = gevent.socket.socketpair()
    try:
        handler = cls(server.config, ours, ("10.0.0.7", 4321), server)
        theirs.sendall(raw)
        assert handler.handle_one_request() is True
        return handler, theirs.recv(65536)
    finally:
        ours.close()
        theirs.close()


def test_a_post_of_a_live_polling_session_is_served_directly(server):
    sid = _polling_session(server)
    raw = f"POST /socket.io/1/xhr-polling/{sid}?t=5 HTTP/1.1\r\nHost: h\r\nX-Twice: a\r\n"
    raw += "X-Twice: b\r\nContent-Length: 3\r\n\r\n8::"
    handler, answer = _serve(server, raw.encode())
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(b"\r\n\r\n1")
    body = handler.environ["wsgi.input"]
    assert handler.environ == {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": f"/socket.io/1/xhr-polling/{sid}",
        "QUERY_STRING": "t=5",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": "3",
        "HTTP_HOST": "h",
        "HTTP_X_TWICE": "a,b",
        "wsgi.input": body,
    }
    assert body is handler.wsgi_input


@pytest.mark.parametrize(
    "request_line",
    [
        "POST /socket.io/1/xhr%2Dpolling/{sid} HTTP/1.1",  # (PATH_INFO would differ)
        "POST /socket.io/1/jsonp-polling/{sid} HTTP/1.1",  # (another transport's session)
        "POST /socket.io/1/xhr-polling/{unknown} HTTP/1.1",
        "PUT /socket.io/1/xhr-polling/{sid} HTTP/1.1",
        "POST /socket.io/1/ HTTP/1.1",  # (a handshake: the authorization hook reads the environ)
        "POST /elsewhere HTTP/1.1",
    ],
)
def test_other_requests_go_the_whole_way(server, request_line):
    sid = _polling_session(server)
    line = request_line.format(sid=sid, unknown="0" * 32)
    handler, answer = _serve(server, f"{line}\r\nHost: h\r\nContent-Length: 3\r\n\r\n8::".encode())
    assert answer.startswith(b"HTTP/1.1 ")
    assert handler.environ["SERVER_NAME"]  # (pywsgi's environ, from the server's base)


@pytest.mark.parametrize("header", ["Expect: 100-continue", "Transfer-Encoding: chunked"])
def test_a_request_with_these_headers_goes_the_whole_way(server, header):
    sid = _polling_session(server)
    body = "3\r\n8::\r\n0\r\n\r\n" if header.startswith("Transfer") else "8::"
    length = "" if header.startswith("Transfer") else "Content-Length: 3\r\n"
    raw = (
        f"POST /socket.io/1/xhr-polling/{sid} HTTP/1.1\r\nHost: h\r\n{header}\r\n{length}\r\n{body}"
    )
    handler, answer = _serve(server, raw.encode())
    assert answer.endswith(b"\r\n\r\n1")
    assert handler.environ["SERVER_NAME"]


def test_an_upgrade_request_goes_the_whole_way(server):
    sid = _polling_session(server)
    server.sockets[sid].put_client_msg("8::")  # (the GET is answered at once)
    raw = f"GET /socket.io/1/xhr-polling/{sid} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n"
    handler, answer = _serve(server, raw.encode())
    assert answer.endswith(b"\r\n\r\n8::")
    assert handler.environ["SERVER_NAME"]


def test_a_forwarded_request_goes_the_whole_way(server, monkeypatch):
    sid = _polling_session(server)
    monkeypatch.setattr(SocketIOHandler, "forwarded", True)
    raw = f"GET /socket.io/1/xhr-polling/{sid} HTTP/1.1\r\nHost: h\r\n\r\n"
    handler, answer = _serve(server, raw.encode())
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")  # (unsigned)
    assert handler.environ["SERVER_NAME"]


def test_a_subclass_changing_what_the_direct_path_skips_goes_the_whole_way(server):
    class Routed(SocketIOHandler):
        def run_application(self) -> None:
            super().run_application()

    class Marked(Routed):
        serves_directly = True  # (it says so: served directly again)

    assert SocketIOHandler.serves_directly
    assert not Routed.serves_directly
    assert Marked.serves_directly
    sid = _polling_session(server)
    raw = f"POST /socket.io/1/xhr-polling/{sid} HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n8::"
    handler, answer = _serve(server, raw.encode(), Routed)
    assert answer.endswith(b"\r\n\r\n1")
    assert handler.environ["SERVER_NAME"]


def test_gunicorns_handler_goes_the_whole_way():
    # Its access log reads the environ; a graceful shutdown interrupts its
    # polls in run_application.
    sgunicorn = pytest.importorskip("socketio.sgunicorn")
    assert not sgunicorn.GunicornSocketIOHandler.serves_directly
