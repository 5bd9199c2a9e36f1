"""The legacy transports on the wire.

They are htmlfile, xhr-multipart, flashsocket, and the Flash policy server.

htmlfile and xhr-multipart are read from a raw socket (their GET never ends);
their POSTs are plain xhr-polling POSTs. flashsocket is the websocket protocol
on another URL, driven with websocket-client. The policy server is asked with a
raw TCP socket, as the Flash bridge does.
"""

from __future__ import annotations

import json
import re
import socket

import pytest
import requests
import websocket

from tests.client09.framing import frame, htmlfile_payloads, unframe
from tests.client09.handshake import TIMEOUT, handshake, transport_url
from tests.client09.http import RawStream

from .conftest import free_port

PREAMBLE_HEAD = (
    "<html><body><script>var _ = function (msg) { parent.s._(msg, document); };</script>"
)


def post(url: str, body: str) -> requests.Response:
    return requests.post(url, data=body.encode("utf-8"), timeout=TIMEOUT)


# -- htmlfile ------------------------------------------------------------------


def test_htmlfile_stream(live_server):
    sid = handshake(live_server.url).sid
    url = transport_url(live_server.url, "htmlfile", sid)
    stream = RawStream(url)
    try:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/html")
        assert stream.headers["transfer-encoding"] == "chunked"
        text = stream.read_text_until(r"<script>_\(.*</script>$")
        preamble, _, _ = text.partition("<script>_(")
        assert preamble.startswith(PREAMBLE_HEAD)
        assert "parent.s._" in preamble
        assert len(preamble.encode("utf-8")) >= 256
        assert preamble[len(PREAMBLE_HEAD) :].strip() == ""  # padding only
        assert text.endswith('<script>_("1::");</script>')
        assert htmlfile_payloads(text) == ["1::"]

        # client packets arrive by POST, as on xhr-polling
        resp = post(url, frame("1::/chat", '5:1+:/chat:{"name":"echo","args":["<b>\\"hi\\"</b>"]}'))
        assert resp.status_code == 200
        assert resp.text == "1"
        received: list[str] = []
        while len(received) < 3:
            chunk = stream.read_text_until(r"</script>$")
            assert re.fullmatch(r"(<script>_\(.*?\);</script>)+", chunk), chunk
            for body in htmlfile_payloads(chunk):
                received += unframe(body)
        assert received == [
            "1::/chat",
            '5::/chat:{"args":["/chat"],"name":"welcome"}',
            '6::/chat:1+["<b>\\"hi\\"</b>"]',
        ]
        assert sid in live_server.sockets()
    finally:
        stream.close()


def test_htmlfile_unknown_sid(live_server):
    stream = RawStream(transport_url(live_server.url, "htmlfile", "0" * 32))
    try:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/html")
        body = stream.read_body().decode()
        assert body.startswith(PREAMBLE_HEAD)
        assert htmlfile_payloads(body) == ["7:::1+0"]
    finally:
        stream.close()


# -- xhr-multipart -------------------------------------------------------------


def _parts(text: str, boundary: str) -> list[str]:
    """The bodies of the complete parts in ``text``."""
    bodies = []
    for part in text.split(f"--{boundary}\r\n")[1:]:
        if not part:
            continue
        head, sep, body = part.partition("\r\n\r\n")
        assert sep, part
        assert head.lower().startswith("content-type: text/plain"), head
        assert body.endswith("\r\n"), body
        bodies.append(body[:-2])
    return bodies


def test_xhr_multipart_stream(live_server):
    sid = handshake(live_server.url).sid
    url = transport_url(live_server.url, "xhr-multipart", sid)
    stream = RawStream(url)
    try:
        assert stream.status == 200
        content_type = stream.headers["content-type"]
        assert content_type.startswith("multipart/x-mixed-replace")
        boundary = re.search(r'boundary="?([^";]+)"?', content_type).group(1)
        end = re.escape(f"\r\n--{boundary}\r\n")
        text = stream.read_text_until(end + "$")
        assert text.startswith(f"--{boundary}\r\n")
        assert _parts(text, boundary) == ["1::"]

        assert post(url, '5:1+::{"name":"echo","args":["multi"]}').text == "1"
        text = stream.read_text_until(end + "$", text)
        assert _parts(text, boundary) == ["1::", '6:::1+["multi"]']

        assert post(url, frame("1::/news", '5:2+:/news:{"name":"echo","args":[2]}')).text == "1"
        packets: list[str] = []
        while len(packets) < 2:
            text = stream.read_text_until(end + "$", text)
            packets = [p for body in _parts(text, boundary)[2:] for p in unframe(body)]
        assert packets == ["1::/news", "6::/news:2+[2]"]
    finally:
        stream.close()


# -- flashsocket -------------------------------------------------------------


def test_flashsocket(live_server):
    sid = handshake(live_server.url).sid
    url = transport_url(live_server.url.replace("http", "ws"), "flashsocket", sid)
    ws = websocket.create_connection(url, timeout=TIMEOUT)
    try:
        assert ws.recv() == "1::"
        # client → server event with an ack carrying data
        ws.send('5:1+::{"name":"echo","args":["flash",1]}')
        assert ws.recv() == '6:::1+["flash",1]'
        # a namespace
        ws.send("1::/chat")
        assert ws.recv() == "1::/chat"
        assert ws.recv() == '5::/chat:{"args":["/chat"],"name":"welcome"}'
        # server → client event with a callback: the client acks, the callback runs
        ws.send('5::/chat:{"name":"ask","args":["why?"]}')
        question = ws.recv()
        match = re.fullmatch(r"5:(\d+)\+:/chat:(.*)", question)
        assert match, question
        assert json.loads(match.group(2)) == {"name": "question", "args": ["why?"]}
        ws.send(f'6::/chat:{match.group(1)}+["because",42]')
        assert ws.recv() == '5::/chat:{"args":[["because",42]],"name":"answered"}'
        # an id without '+' is acked automatically
        ws.send("3:9:/chat:hello")
        assert ws.recv() == "6::/chat:9"
        assert ws.recv() == "3::/chat:hello"  # ChatNamespace.recv_message sends it back
        assert sid in live_server.sockets()
    finally:
        ws.close()


def test_flashsocket_unknown_sid(live_server):
    url = transport_url(live_server.url.replace("http", "ws"), "flashsocket", "f" * 32)
    ws = websocket.create_connection(url, timeout=TIMEOUT)
    try:
        assert ws.recv() == "7:::1+0"
    finally:
        ws.close()


# -- Flash policy server -------------------------------------------------------


@pytest.fixture(scope="module")
def policy_server():
    from .conftest import LiveServer

    port = free_port()
    server = LiveServer(policy_port=port).start()
    yield server, port
    server.stop()


def _ask_policy(port: int, request: bytes, end_request: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        if end_request:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data


def test_flash_policy_server(policy_server):
    _, port = policy_server
    data = _ask_policy(port, b"<policy-file-request/>\0")
    assert data.endswith(b"\0")
    assert data.count(b"\0") == 1
    document = data[:-1].decode("utf-8")
    assert "<cross-domain-policy>" in document
    assert document.rstrip().endswith("</cross-domain-policy>")
    assert re.search(r'<allow-access-from domain="\*" to-ports="[^"]+"\s*/>', document)


def test_flash_policy_server_ignores_other_requests(policy_server):
    server, port = policy_server
    assert _ask_policy(port, b"GET / HTTP/1.0\r\n\r\n", end_request=True) == b""
    # still answering afterwards, and the Socket.IO server is unaffected
    assert _ask_policy(port, b"<policy-file-request/>\0").endswith(b"</cross-domain-policy>\0")
    assert requests.get(server.url + "/socket.io/", timeout=TIMEOUT).text == "Welcome to socket.io."
