"""Polling requests of a live session, served without the WSGI machinery, answer as before.

``SocketIOHandler._serve_directly`` answers a GET or POST of a connected
xhr-polling or JSONP session without pywsgi's environ, ``handle_one_response``
and ``run_application``. What a client sees must not change: the same
bytes on the wire (status line and headers, the ``Date`` aside) as the
requests that go the whole way (an escaped path, ``Expect``, a chunked
body), keep-alive and ``Connection: close`` honoured, the error answers,
and the access-log line.
"""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

import pytest

from tests.client09.handshake import TIMEOUT, handshake
from tests.client09.waiting import wait_for

ORIGIN = "http://app.example.com:8080"


class KeepAlive:
    """A raw HTTP/1.1 connection sending requests one after another, answers read whole."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.netloc
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT)
        self.buffer = b""

    def send(self, raw: str) -> None:
        self.sock.sendall(raw.encode("utf-8"))  # (the heads here are ASCII)

    def answer(self) -> str:
        """The next answer as it came, head and body, its ``Date`` value replaced by ``<date>``."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        text = head.decode("latin-1")
        length = re.search(r"\r\nContent-Length: (\d+)", text)
        size = int(length.group(1)) if length else 0
        while len(self.buffer) < size:
            self._fill()
        body, self.buffer = self.buffer[:size], self.buffer[size:]
        text, dates = re.subn(
            r"\r\nDate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} [\d:]{8} GMT",
            "\r\nDate: <date>",
            text,
        )
        assert dates == 1, text
        return text + "\r\n\r\n" + body.decode("utf-8")

    def closed(self) -> bool:
        """Whether the server has closed the connection (nothing more to read)."""
        self.sock.settimeout(TIMEOUT)
        return self.sock.recv(1) == b""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("closed by the server")
        self.buffer += data

    def close(self) -> None:
        self.sock.close()


def _request(method: str, target: str, host: str, *extra: str, body: str = "") -> str:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", *extra]
    if method == "POST" and not any(line.lower().startswith("transfer-encoding") for line in extra):
        lines.append(f"Content-Length: {len(body.encode('utf-8'))}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


#: the head of a polling answer of ``length`` bytes, more headers before the Date
def _head(length: int, *more: str, status: str = "200 OK") -> str:
    lines = [
        f"HTTP/1.1 {status}",
        "Content-Type: text/plain; charset=UTF-8",
        f"Content-Length: {length}",
        "Cache-Control: no-store",
        "X-Content-Type-Options: nosniff",
        *more,
        "Date: <date>",
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


@pytest.fixture
def session(live_server):
    """A connected xhr-polling session: its id and a keep-alive connection that opened it."""
    sid = handshake(live_server.url).sid
    conn = KeepAlive(live_server.url)
    conn.send(_request("GET", f"/socket.io/1/xhr-polling/{sid}", conn.host))
    assert conn.answer() == _head(3) + "1::"
    yield sid, conn
    conn.close()


ECHO = '5:1+::{"name":"echo","args":["hi"]}'
ACK = '6:::1+["hi"]'


def test_a_post_and_a_get_on_one_kept_alive_connection(session):
    sid, conn = session
    target = f"/socket.io/1/xhr-polling/{sid}?t=1"
    conn.send(_request("POST", target, conn.host, body=ECHO))
    assert conn.answer() == _head(1) + "1"
    conn.send(_request("GET", target, conn.host))
    assert conn.answer() == _head(len(ACK)) + ACK


def test_cors_headers_of_a_direct_answer(session):
    sid, conn = session
    conn.send(
        _request(
            "POST", f"/socket.io/1/xhr-polling/{sid}", conn.host, f"Origin: {ORIGIN}", body="8::"
        )
    )
    assert (
        conn.answer()
        == _head(
            1, f"Access-Control-Allow-Origin: {ORIGIN}", "Access-Control-Allow-Credentials: true"
        )
        + "1"
    )


@pytest.mark.parametrize(
    ("target", "extra"),
    [
        # (an escaped path: PATH_INFO differs from the request's path)
        ("/socket.io/1/xhr%2Dpolling/{sid}", ()),
        ("/socket.io/1/xhr-polling/{sid}", ("Expect: 100-continue",)),
        ("/socket.io/1/xhr-polling/{sid}", ("Transfer-Encoding: chunked",)),
    ],
)
def test_requests_that_go_the_whole_way_answer_the_same(session, target, extra):
    sid, conn = session
    chunked = bool(extra) and extra[0].startswith("Transfer")
    body = f"{len(ECHO):x}\r\n{ECHO}\r\n0\r\n\r\n" if chunked else ECHO
    conn.send(_request("POST", target.format(sid=sid), conn.host, *extra, body=body))
    if extra and extra[0].startswith("Expect"):
        # (the body was sent along: pywsgi still says 100 Continue before reading it)
        while b"\r\n\r\n" not in conn.buffer:
            conn._fill()
        continued, _, conn.buffer = conn.buffer.partition(b"\r\n\r\n")
        assert continued == b"HTTP/1.1 100 Continue"
    assert conn.answer() == _head(1) + "1"
    conn.send(_request("GET", f"/socket.io/1/xhr-polling/{sid}", conn.host))
    assert conn.answer() == _head(len(ACK)) + ACK


def test_connection_close_is_honoured(session):
    sid, conn = session
    conn.send(
        _request(
            "POST", f"/socket.io/1/xhr-polling/{sid}", conn.host, "Connection: close", body="8::"
        )
    )
    assert conn.answer() == _head(1) + "1"
    assert conn.closed()


def test_a_body_over_the_limit_is_refused_and_closes(session):
    sid, conn = session
    conn.send(
        f"POST /socket.io/1/xhr-polling/{sid} HTTP/1.1\r\nHost: {conn.host}\r\n"
        "Content-Length: 99999999999\r\n\r\n8::"
    )
    refusal = "body of 99999999999 bytes exceeds 10485760"
    status = "413 Request Entity Too Large"
    assert conn.answer() == _head(len(refusal), "Connection: close", status=status) + refusal
    assert conn.closed()


def test_a_malformed_payload_is_a_400_not_a_500(live_server, session):
    sid, conn = session
    offset = len(live_server.log())
    conn.send(
        _request("POST", f"/socket.io/1/xhr-polling/{sid}", conn.host, body="\ufffd99\ufffd5:::{}")
    )
    answer = conn.answer()
    assert answer.startswith("HTTP/1.1 400 Bad Request\r\n"), answer
    assert "Traceback" not in answer
    assert "Traceback" not in live_server.log()[offset:]


def test_a_direct_request_is_in_the_access_log(live_server, session):
    sid, conn = session
    conn.send(_request("POST", f"/socket.io/1/xhr-polling/{sid}?t=7", conn.host, body="8::"))
    assert conn.answer() == _head(1) + "1"
    line = f'"POST /socket.io/1/xhr-polling/{sid}?t=7 HTTP/1.1" 200 '
    wait_for(lambda: line in live_server.log(), what="the access-log line")
