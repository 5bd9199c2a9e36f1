"""Every row of ``docs/disconnection.rst``, with real clients against a live server.

For each way a session can end: which hooks of the namespace ran and in which
order (``/_events``: ``recv_disconnect``, then ``disconnect(silent)``), what
the client received, when the session left ``server.sockets`` (``/_sockets``)
and when ``socketio_manage`` returned (``/_ended``), that the greenlets spawned
with ``namespace.spawn`` and ``socket.spawn`` died (they record their own
``GreenletExit``: ``ns_job_killed``, ``socket_job_killed``), and, on the wire,
when the connection was closed.

The clients: the real socket.io-client 0.9.16 in node (``NodeClient``, driven
step by step) and wire-level websocket-client / requests clients where the
test must misbehave (never answer heartbeats, reset the TCP connection, vanish).
The namespace is ``/life`` of the test application; timers are short.
"""

from __future__ import annotations

import signal
import time

import pytest
import requests
import websocket

from tests.client09.framing import unframe
from tests.client09.handshake import TIMEOUT, handshake, transport_url
from tests.client09.http import RawStream, closed_by_peer
from tests.client09.polling import PollingClient
from tests.client09.waiting import wait_for
from tests.client09.websocket import WebSocketClient, open_websocket, read_to_close

from .conftest import LiveServer
from .node_client import NodeClient
from .observe import ended, hooks, kinds, wait_gone
from .proxy import ResettableProxy

pytestmark = pytest.mark.node

HEARTBEAT_INTERVAL = 0.3
HEARTBEAT_TIMEOUT = 1.0
CLOSE_TIMEOUT = 1.0
POLLING_DURATION = 0.5
TIMERS = {
    "heartbeat_interval": HEARTBEAT_INTERVAL,
    "heartbeat_timeout": HEARTBEAT_TIMEOUT,
    "close_timeout": CLOSE_TIMEOUT,
    "polling_duration": POLLING_DURATION,
}
TRANSPORTS = ["websocket", "xhr-polling"]

#: what a session that ends while /life is active runs, in this order
#: (the two jobs die in any order after)
ENDING = [("recv_disconnect", "/life", None), ("disconnect", "/life", True)]
JOBS_KILLED = {"ns_job_killed", "socket_job_killed"}


@pytest.fixture(scope="module")
def life():
    server = LiveServer(**TIMERS).start()
    yield server
    server.stop()


@pytest.fixture
def node():
    """A factory of remote-controlled 0.9.16 clients, closed after the test."""
    clients: list[NodeClient] = []

    def make(url: str) -> NodeClient:
        client = NodeClient(url)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def open_life(client: NodeClient, transport: str, **options) -> str:
    """Connect ``/life`` (label ``a``), start one namespace job and one socket job."""
    sid = client.connect("a", "/life", transport, **options)
    counts = client.emit("a", "start_jobs", ack=True)
    assert counts[0][0] == 1  # the namespace job
    return sid


def teardown(server: LiveServer, sid: str) -> list[tuple]:
    """The hooks of ``sid`` after it connected and started its jobs."""
    return [h for h in hooks(server, sid) if h[0] not in ("initialize", "recv_connect")]


def assert_ended(server: LiveServer, sid: str, ending=ENDING, timeout: float = 3) -> None:
    """The session ended: hooks in order, both jobs dead, out of server.sockets, manage returned."""
    wait_gone(server, sid, timeout)
    wait_for(lambda: ended(server, sid), timeout, "socketio_manage to return")
    wait_for(lambda: JOBS_KILLED <= set(kinds(server, sid)), timeout, "the jobs to die")
    seen = teardown(server, sid)
    assert seen[: len(ending)] == ending, seen
    assert sorted(k for k, _, _ in seen[len(ending) :]) == sorted(JOBS_KILLED), seen


def assert_lives_on(server: LiveServer, sid: str, client: NodeClient) -> None:
    """The socket survived: in server.sockets, its socket job alive, the client connected."""
    time.sleep(2 * HEARTBEAT_INTERVAL)  # the test: it outlives two heartbeats
    assert sid in server.sockets()
    assert not ended(server, sid)
    assert "socket_job_killed" not in kinds(server, sid)
    assert client.call("state", label="a")["connected"] is True


def wire_life(url: str, transport: str = "websocket"):
    """A wire-level session with /life connected and its jobs started."""
    if transport == "websocket":
        client = WebSocketClient(url)
        client.send("1::/life")
        assert client.recv() == "1::/life"
        assert client.call("/life", "start_jobs")[0][0] == 1
        return client
    session = PollingClient(url, transport)
    session.post("1::/life")
    assert session.get() == "1::/life"
    session.post('5:1+:/life:{"name":"start_jobs","args":[]}')
    assert session.get().startswith("6::/life:1+[[1,")
    return session


# -- the client leaves --------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_client_leaves_one_namespace(life, node, transport):
    client = node(life.url)
    sid = open_life(client, transport)
    client.call("leave", label="a")  # namespace.disconnect() in the client: '0::/life'
    assert client.wait("a", "disconnect") == []  # client side, at once
    wait_for(lambda: "ns_job_killed" in kinds(life, sid), what="the namespace job to die")
    assert teardown(life, sid) == [*ENDING, ("ns_job_killed", "/life", None)]
    # The application serves the global namespace: the socket lives on.
    assert_lives_on(life, sid, client)
    client.call("disconnect", label="a")
    wait_gone(life, sid)
    wait_for(lambda: "socket_job_killed" in kinds(life, sid), what="the socket job to die")
    assert ended(life, sid)


def test_leaving_the_only_namespace_ends_the_socket_without_a_global_one(make_server):
    server = make_server(no_global=1, **TIMERS)
    client = wire_life(server.url)
    client.send("0::/life")
    packets, code = client.read_to_close()
    # Booted: nothing is left to serve it, so it is told so and closed.
    assert packets == ["0::"]
    assert code == 1000
    assert_ended(server, client.sid)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_client_ends_the_socket(life, node, transport):
    client = node(life.url)
    sid = open_life(client, transport)
    client.call("disconnect", label="a")  # socket.disconnect() in the client: '0::'
    assert client.wait("socket:a", "disconnect") == ["booted"]
    assert_ended(life, sid)
    assert "0::" in client.wire("out")
    time.sleep(0.3)  # the test: no reconnection starts in that time
    assert client.call("state", label="a")["reconnecting"] is False


# -- the forced-disconnect URL --------------------------------------------------------


def forced_disconnect(url: str, sid: str) -> requests.Response:
    """What the 0.9.16 client sends on unload: ``GET /socket.io/1//<sid>/?disconnect=1``."""
    return requests.get(f"{url}/socket.io/1//{sid}/", params={"disconnect": "1"}, timeout=5)


def test_forced_disconnect_of_a_websocket_session(life):
    client = wire_life(life.url)
    resp = forced_disconnect(life.url, client.sid)
    assert resp.status_code == 200
    assert resp.text == ""
    # The websocket, still open, is told it was booted and closed by the server.
    assert client.read_to_close() == (["0::"], 1000)
    assert_ended(life, client.sid)


@pytest.mark.parametrize("transport", ["xhr-polling", "jsonp-polling"])
def test_forced_disconnect_of_a_polling_session(life, transport):
    session = wire_life(life.url, transport)
    held = session.hold()
    assert forced_disconnect(life.url, session.sid).status_code == 200
    assert unframe(held.payload()) == ["0::"]  # the held GET is told at once
    assert_ended(life, session.sid)
    assert session.get() == "7:::1+0"


def test_forced_disconnect_of_an_unknown_session_is_harmless(life):
    client = wire_life(life.url)
    assert forced_disconnect(life.url, "0" * 32).status_code == 200
    assert client.call("/life", "echo", "still here", msgid=2) == ["still here"]
    assert client.sid in life.sockets()
    client.close()


# -- websocket closed abruptly -------------------------------------------------------


def test_websocket_reset_without_close_frame(life):
    client = wire_life(life.url)
    started = time.monotonic()
    client.reset()  # RST: no close frame, no FIN
    wait_gone(life, client.sid, HEARTBEAT_TIMEOUT)  # at once, not after a timeout
    assert time.monotonic() - started < HEARTBEAT_TIMEOUT
    assert_ended(life, client.sid)


def test_websocket_is_read_while_a_handler_waits(life):
    """Packets are handled one at a time, in order, while the connection is still read.

    A handler that waits (here 2.5 heartbeat timeouts) does not stop the
    connection from being read: the client's heartbeats keep the session alive, and what it sent meanwhile is
    handled next.
    """
    client = wire_life(life.url)
    client.emit("/life", "wait", 2.5 * HEARTBEAT_TIMEOUT, msgid=5)
    client.emit("/life", "echo", "after", msgid=6)
    seen = client.recv_until('6::/life:6+["after"]', timeout=10)
    assert seen == ['6::/life:5+["waited"]', '6::/life:6+["after"]']
    assert client.sid in life.sockets()
    client.close()


def test_burst_of_events_from_one_handler_arrives_whole_and_in_order(life):
    """Frames sent in one turn of the event loop go out together.

    All of them go, in order, before the handler's ack.
    """
    client = wire_life(life.url)
    client.emit("/life", "burst", 300, msgid=7)
    seen = client.recv_until("6::/life:7+[300]")
    expected = [f'5::/life:{{"args":[{i}],"name":"burst"}}' for i in range(300)]
    assert seen == [*expected, "6::/life:7+[300]"]
    client.close()


def test_burst_then_kill_sends_the_burst_before_the_close(life):
    client = wire_life(life.url)
    client.emit("/life", "burst", 50, True, msgid=8)
    seen = []
    opcode = None
    while opcode != websocket.ABNF.OPCODE_CLOSE:
        opcode, data = client.ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_TEXT and data != b"2::":
            seen.append(data.decode())
    assert seen[:50] == [f'5::/life:{{"args":[{i}],"name":"burst"}}' for i in range(50)]
    assert seen[50:] == ["0::"]
    wait_gone(life, client.sid, HEARTBEAT_TIMEOUT)


def _kill_and_read_close_frame(client) -> None:
    """Have the server kill the session; read up to its close frame, code 1000.

    The read is raw: websocket-client would answer the close frame itself.
    """
    client.emit("/life", "kill_socket", True)
    client.ws.sock.settimeout(TIMEOUT)
    received = b""
    close_frame = b"\x88\x02\x03\xe8"
    while not received.endswith(close_frame):
        chunk = client.ws.sock.recv(65536)
        assert chunk, f"connection closed after {received!r}"
        received += chunk
    assert b"0::" in received


def test_killed_websocket_session_waits_for_the_clients_close_frame(life):
    """The session ends at once; the connection waits for the client's close.

    Its socketio_manage returns while the client is silent; the connection stays open for the client's answer to the close
    frame, and closes as soon as it comes.
    """
    client = wire_life(life.url)
    _kill_and_read_close_frame(client)
    wait_gone(life, client.sid)
    assert_ended(life, client.sid)
    assert not closed_by_peer(client.ws.sock, 0.5)
    client.ws.send_close()
    assert closed_by_peer(client.ws.sock, 2)


def test_killed_websocket_whose_client_never_answers_is_dropped(life):
    client = wire_life(life.url)
    _kill_and_read_close_frame(client)
    started = time.monotonic()
    try:
        assert closed_by_peer(client.ws.sock, 5)
    except ConnectionResetError:
        pass  # the drop is abortive; a FIN may or may not come first
    assert 1.5 <= time.monotonic() - started <= 4  # close_grace: 2 s


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_handler_that_waits_for_ever_ends_with_its_session(life, transport):
    """A handler blocked for ever (not spawned) is aborted when its session ends.

    The original's receiver loop was killed with the socket alike. Over a websocket
    the client's close is seen at once; a polling client that stops polling
    expires after ``close_timeout``.
    """
    client = wire_life(life.url, transport)
    started = time.monotonic()
    block = '5::/life:{"name":"block","args":[]}'
    if transport == "websocket":
        client.send(block)
        wait_for(lambda: "block_started" in kinds(life, client.sid))
        client.close()
        wait_gone(life, client.sid, HEARTBEAT_TIMEOUT / 2)
    else:
        client.post(block)
        wait_for(lambda: "block_started" in kinds(life, client.sid))
        wait_gone(life, client.sid, CLOSE_TIMEOUT + POLLING_DURATION + 3)
    wait_for(lambda: ended(life, client.sid), what="socketio_manage to return")
    wait_for(lambda: "block_aborted" in kinds(life, client.sid), what="the handler to end")
    wait_for(lambda: JOBS_KILLED <= set(kinds(life, client.sid)), what="the jobs to die")
    assert ("recv_disconnect", "/life", None) in hooks(life, client.sid)
    if transport == "websocket":
        assert time.monotonic() - started < HEARTBEAT_TIMEOUT


def test_real_client_reconnects_after_a_network_reset(life, node):
    proxy = ResettableProxy(life.port)
    try:
        client = node(proxy.url)
        sid = open_life(client, "websocket", reconnect=True, **{"reconnection delay": 100})
        assert proxy.reset() >= 1
        assert_ended(life, sid)
        # The client saw its transport close (not 'booted') and handshook again.
        assert client.wait("socket:a", "disconnect") != ["booted"]
        assert client.wait("socket:a", "reconnect", 8000)[0] == "websocket"
        new_sid = client.call("state", label="a")["sessionid"]
        assert new_sid != sid
        assert new_sid in life.sockets()
        wait_for(lambda: ("recv_connect", "/life", None) in hooks(life, new_sid))
        assert client.emit("a", "echo", "after", ack=True) == ["after"]
    finally:
        proxy.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_real_client_killed(life, node, transport):
    """The client process dies (SIGKILL) and its session ends.

    A websocket sees FIN without a close frame and ends at once; a polling
    session ends after close_timeout.
    """
    client = node(life.url)
    sid = open_life(client, transport)
    started = time.monotonic()
    client.proc.kill()
    client.proc.wait()
    took = wait_gone(life, sid, CLOSE_TIMEOUT + 2)
    if transport == "websocket":
        assert took < HEARTBEAT_TIMEOUT
    else:
        assert CLOSE_TIMEOUT - 0.1 <= time.monotonic() - started <= CLOSE_TIMEOUT + 1.5
    assert_ended(life, sid)


# -- timeouts ------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["xhr-polling", "jsonp-polling"])
def test_polling_client_away_longer_than_close_timeout(life, transport):
    session = wire_life(life.url, transport)
    last_request = time.monotonic()
    wait_gone(life, session.sid, CLOSE_TIMEOUT + 2)
    away = time.monotonic() - last_request
    assert CLOSE_TIMEOUT - 0.1 <= away <= CLOSE_TIMEOUT + 1.2, away
    assert_ended(life, session.sid)
    # Its next requests are told to handshake again.
    assert session.get() == "7:::1+0"
    assert session.unwrap(session.post("2::").text) == "7:::1+0"


def test_websocket_that_never_answers_heartbeats(life):
    client = wire_life(life.url)
    last_sent = time.monotonic()
    packets, code = client.read_to_close(timeout=HEARTBEAT_TIMEOUT + 3)
    silent_for = time.monotonic() - last_sent
    # Heartbeats kept coming, unanswered; then it was booted and closed.
    assert packets[-1] == "0::"
    assert set(packets[:-1]) == {"2::"}
    assert len(packets[:-1]) >= 2
    assert code == 1000
    assert HEARTBEAT_TIMEOUT - 0.1 <= silent_for <= HEARTBEAT_TIMEOUT + 1
    assert_ended(life, client.sid)


def test_handshake_never_followed_by_a_transport(life):
    sid = handshake(life.url).sid
    handshook = time.monotonic()
    assert sid in life.sockets()
    wait_gone(life, sid, CLOSE_TIMEOUT + 2)
    assert CLOSE_TIMEOUT - 0.1 <= time.monotonic() - handshook <= CLOSE_TIMEOUT + 1
    assert hooks(life, sid) == []  # no namespace ever existed
    assert not ended(life, sid)  # the application never ran
    assert requests.get(transport_url(life.url, "xhr-polling", sid), timeout=5).text == "7:::1+0"
    late = open_websocket(life.url, sid)
    assert read_to_close(late) == (["7:::1+0"], 1000)
    late.close()


# -- the server ends a namespace -----------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_namespace_disconnect(life, node, transport):
    client = node(life.url)
    sid = open_life(client, transport)
    client.emit("a", "leave", False)  # namespace.disconnect() on the server
    assert client.wait("a", "disconnect") == [None]  # '0::/life' arrived
    wait_for(lambda: "ns_job_killed" in kinds(life, sid), what="the namespace job to die")
    # No recv_disconnect: the server left, the client did not.
    assert teardown(life, sid) == [("disconnect", "/life", False), ("ns_job_killed", "/life", None)]
    assert "0::/life" in client.wire("in")
    assert_lives_on(life, sid, client)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_namespace_disconnect_silent(life, node, transport):
    client = node(life.url)
    sid = open_life(client, transport)
    client.emit("a", "leave", True)  # namespace.disconnect(silent=True)
    wait_for(lambda: "ns_job_killed" in kinds(life, sid), what="the namespace job to die")
    assert teardown(life, sid) == [("disconnect", "/life", True), ("ns_job_killed", "/life", None)]
    assert_lives_on(life, sid, client)
    # The client was told nothing.
    assert "0::/life" not in client.wire("in")
    assert ("a", "disconnect", []) not in client.events("a")
    assert [e for _, e, _ in client.events("a")].count("disconnect") == 0


def test_namespace_disconnect_of_the_only_namespace_ends_the_socket(make_server):
    server = make_server(no_global=1, **TIMERS)
    client = wire_life(server.url)
    client.emit("/life", "leave", False)
    packets, code = client.read_to_close()
    assert packets == ["0::/life", "0::"]
    assert code == 1000
    wait_gone(server, client.sid)
    wait_for(lambda: JOBS_KILLED <= set(kinds(server, client.sid)), what="the jobs to die")
    seen = teardown(server, client.sid)
    assert seen[0] == ("disconnect", "/life", False)
    assert "recv_disconnect" not in kinds(server, client.sid)
    assert ended(server, client.sid)


# -- the server ends the socket ------------------------------------------------------


@pytest.mark.parametrize("silent", [False, True], ids=["loud", "silent"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_socket_disconnect(life, node, transport, silent):
    client = node(life.url)
    sid = open_life(client, transport)
    client.emit("a", "disconnect_socket", silent)  # socket.disconnect(silent)
    assert client.wait("socket:a", "disconnect") == ["booted"]
    assert_ended(life, sid)
    received = client.wire("in")
    endings = [p for p in received if p.startswith("0::")]
    assert endings == (["0::"] if silent else ["0::/life", "0::"])
    if not silent:
        assert ("a", "disconnect", [None]) in client.events("a")  # '0::/life' first


@pytest.mark.parametrize("detach", [False, True], ids=["kill", "kill-detach"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_socket_kill(life, node, transport, detach):
    client = node(life.url)
    sid = open_life(client, transport)
    client.emit("a", "kill_socket", detach)
    assert client.wait("socket:a", "disconnect") == ["booted"]
    received = client.wire("in")
    assert received[-1] == "0::"
    # kill() without detach on a polling session whose client went quiet: it
    # stays in server.sockets at most close_timeout, never served again.
    assert_ended(life, sid, timeout=CLOSE_TIMEOUT + 2)
    time.sleep(0.3)  # the test: no reconnection starts in that time
    assert client.call("state", label="a")["reconnecting"] is False


@pytest.mark.parametrize("detach", [False, True], ids=["kill", "kill-detach"])
def test_socket_kill_between_two_polls(life, detach):
    """Nobody listens when the kill happens: the next GET gets the '0::', the one after 7:::1+0."""
    session = wire_life(life.url, "xhr-polling")
    session.post(f'5::/life:{{"name":"kill_socket","args":[{str(detach).lower()}]}}')
    wait_for(lambda: ended(life, session.sid), what="socketio_manage to return")
    assert unframe(session.get()) == ["0::"]
    assert session.get() == "7:::1+0"
    assert_ended(life, session.sid)


# -- the server stops ----------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_server_stop(make_server, node, sig):
    """``server.stop()`` (on SIGTERM or SIGINT) ends every session (hooks and jobs).

    Open connections are closed without '0::', so 0.9 clients reconnect to the
    next server.
    """
    server = make_server(heartbeat_interval=5, heartbeat_timeout=10, close_timeout=10)
    offset = len(server.log())  # the log file of a port may hold an earlier server's lines
    ws = wire_life(server.url)
    polling = wire_life(server.url, "xhr-polling")
    held = polling.hold()
    stream = RawStream(transport_url(server.url, "htmlfile", handshake(server.url).sid))
    stream.read_text_until(r'_\("1::"\)')
    real = {t: node(server.url) for t in TRANSPORTS}
    real_sids = {
        t: open_life(c, t, reconnect=True, **{"reconnection delay": 200}) for t, c in real.items()
    }
    time.sleep(0.2)  # the real polling client polls again (when, it does not tell)

    started = time.monotonic()
    server.proc.send_signal(sig)
    assert ws.read_to_close() == ([], 1000)  # closed, and not booted
    assert held.payload() == "8::"  # answered at once, without '0::'
    # The next poll fails (a 503 while the server stops, then no server):
    # never '7:::1+0', which a 0.9 client takes for 'booted' (test_server_stop.py)
    try:
        after = polling.http.get(polling.url, timeout=5)
    except requests.ConnectionError:
        pass
    else:
        assert (after.status_code, after.text) == (503, "server shutting down")
    assert "0::" not in stream.read_body().decode()  # the stream ends
    assert server.proc.wait(5) == 0
    assert time.monotonic() - started < 2

    for client in real.values():
        client.wait("socket:a", "reconnecting", 3000)  # it tries to come back
    for client in real.values():
        # disconnected, not booted: by a closed connection, or a poll answered 503
        assert client.wait("socket:a", "disconnect") == [None]
        assert "0::" not in client.wire("in")
    log = server.log()[offset:]
    for session in [ws.sid, polling.sid, *real_sids.values()]:
        assert f"life: ns_job of {session} killed" in log
        assert f"life: socket_job of {session} killed" in log
    assert "Traceback" not in log
