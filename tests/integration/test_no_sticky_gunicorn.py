"""``gunicorn -w 4``, one shared listening socket, no proxy: polling clients keep one session.

Every request of these clients is a new TCP connection, so the kernel hands
it to whichever worker accepts first; gunicorn's access log (with the
worker's pid and the forwarding header) shows that the requests of one
session reached several workers, and that the owner served them all. The
workers run ``server_app``'s application (through ``gunicorn_redis``, which
adds ``/_pid`` and an ``X-Worker-Pid`` header), with the default worker
(every setting at its default) or, for the timers and the broadcasts, the
Redis worker.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.client09.framing import event
from tests.client09.handshake import handshake, transport_url
from tests.client09.waiting import wait_for

from .node_client import NodeClient
from .nosticky import (
    ACCESS_FORMAT,
    PinnedStream,
    Scattered,
    echo_transcript,
    forwarded_to,
    handshakes,
    owner_pid,
    pinned_request,
    pinned_socket,
    served_by,
)
from .test_gunicorn import Gunicorn
from .test_redis import RedisServer

APP = "tests.integration.gunicorn_redis:application"
WORKERS = 4


class Workers(Gunicorn):
    """Four workers; each writes the hooks it runs to a file in :attr:`events_dir`."""

    def __init__(self, tmp: pathlib.Path, worker: str, env: dict[str, str] | None = None) -> None:
        self.events_dir = tmp / "events"
        self.events_dir.mkdir()
        env = {**(env or {}), "SOCKETIO_TEST_EVENTS": str(self.events_dir)}
        args = ("--access-logformat", ACCESS_FORMAT)
        super().__init__(tmp, worker, WORKERS, *args, app=APP, pid_path="/_pid", env=env)


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """Four default workers (``socketio.sgunicorn.GeventSocketIOWorker``, nothing configured)."""
    server = Workers(tmp_path_factory.mktemp("four"), "GeventSocketIOWorker")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_four(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """Four Redis workers (``gunicorn_redis.RedisWorker``), with short timers.

    A 2 s close timeout; heartbeats every 0.5 s, and a 2 s heartbeat timeout
    (for streams and websockets only: polling clients have the close timeout).
    """
    redis_server = RedisServer().start()
    env = {
        "SOCKETIO_TEST_MANAGER": redis_server.url,
        "SOCKETIO_TEST_OPTIONS": json.dumps(
            {"close_timeout": 2, "heartbeat_interval": 0.5, "heartbeat_timeout": 2}
        ),
    }
    server = Workers(
        tmp_path_factory.mktemp("redis-four"), "tests.integration.gunicorn_redis.RedisWorker", env
    )
    yield server
    server.stop()
    redis_server.stop()


def hooks(server: Workers, sid: str) -> dict[int, list[tuple[str, str]]]:
    """The namespace hooks that ran for ``sid``, by worker (only its owner should have any)."""
    found: dict[int, list[tuple[str, str]]] = {}
    for path in sorted(server.events_dir.glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        mine = [(kind, ns) for kind, ns, sessid in lines if sessid == sid]
        if mine:
            found[int(path.stem)] = mine
    return found


def left(server: Workers, sid: str) -> bool:
    """Whether ``recv_disconnect`` ran for ``sid``'s ``/chat`` (in any worker)."""
    return any(("recv_disconnect", "/chat") in found for found in hooks(server, sid).values())


def crossed(server: Workers, sid: str) -> bool:
    """Whether a worker other than ``sid``'s owner (which handshook it) answered one of its requests.

    The kernel may give every new connection to the same worker for a while,
    the owner or another one: only a request away from the owner shows the
    session crossing workers.
    """
    return any(pid != owner_pid(sid) for pid in served_by(server.access(), sid))


def wait_spread(server: Workers, sid: str) -> list[int]:
    """The workers that answered ``sid``'s client: one other than its owner, which served every forwarded one."""
    try:
        wait_for(lambda: crossed(server, sid), what="a request away from the owner")
    except AssertionError:
        pytest.fail(f"all of {sid}'s requests reached its owner: {served_by(server.access(), sid)}")
    pids = served_by(server.access(), sid)
    assert set(forwarded_to(server.access(), sid)) == {owner_pid(sid)}
    return pids


def keep_polling(client: Scattered, server: Workers, polls: int = 30) -> None:
    """Echo through ``/chat`` until one of the session's requests has reached a non-owner (bounded)."""
    for n in range(polls):
        if crossed(server, client.sid):
            return
        client.send(event("/chat", "echo", "more", msgid=100 + n))
        assert client.wait_for(lambda raw: raw.startswith("6::")) == f'6::/chat:{100 + n}+["more"]'


# -- the real 0.9.16 node client -------------------------------------------------------


def test_the_node_client_over_xhr_polling_keeps_one_session_across_workers(
    four: Workers, node_modules: Any
) -> None:
    client = NodeClient(four.url)
    try:
        client.call("agent", keepAlive=False)  # each request a new connection
        sid = client.connect("C", "/chat", "xhr-polling")
        assert client.wait("C", "welcome") == ["/chat"]
        for n in range(6):
            assert client.emit("C", "echo", n, "x", ack=True) == [n, "x"]
        client.emit("C", "send_with_callback", "acked by the client")  # a server emit with ack
        assert client.wait("C", "send_acked") == ["acked by the client"]
        for n in range(8):
            client.emit("C", "broadcast", n)
        for _ in range(8):
            client.wait("C", "broadcast")
        got = [args for label, name, args in client.events("C") if name == "broadcast"]
        assert got == [[n] for n in range(8)]  # once each, in order
        assert client.call("state", label="C")["sessionid"] == sid
        wait_spread(four, sid)

        client.call("disconnect", label="C")  # a "0::" POST, to any worker
        wait_for(lambda: left(four, sid))
        assert hooks(four, sid) == {
            owner_pid(sid): [
                ("initialize", "/chat"),
                ("recv_connect", "/chat"),
                ("recv_disconnect", "/chat"),
            ]
        }
    finally:
        client.close()


# -- the wire format, each request on a new connection ---------------------------------


@pytest.mark.parametrize("transport", ["xhr-polling", "jsonp-polling"])
def test_a_polling_session_is_one_across_workers(four: Workers, transport: str) -> None:
    client = Scattered(four.url, transport)
    owner = owner_pid(client.sid)
    assert client.packets() == ["1::"]
    client.send("1::/chat")
    for n in range(1, 7):
        client.send(event("/chat", "echo", n, msgid=n))
    seen: list[str] = []
    while len(seen) < 8:
        seen += [p for p in client.packets() if p[0] in "156"]
    assert seen == echo_transcript(6)
    # A server emit with ack: the client's ack POST reaches the owner's callback.
    client.send(event("/chat", "ask", "why?"))
    question = client.wait_for(lambda raw: raw.startswith("5:"))
    msgid = question.split(":")[1].removesuffix("+")
    assert question == f'5:{msgid}+:/chat:{{"args":["why?"],"name":"question"}}'
    client.send(f'6::/chat:{msgid}+["because"]')
    answered = client.wait_for(lambda raw: raw.startswith("5:"))
    assert answered == '5::/chat:{"args":[["because"]],"name":"answered"}'
    keep_polling(client, four)
    wait_spread(four, client.sid)

    # "0::" (xhr) or ?disconnect=1 (jsonp) on a connection to another worker than the owner
    sock = pinned_socket(four.url, lambda pid: pid != owner)
    url = transport_url(four.url, transport, client.sid)
    if transport == "xhr-polling":
        assert pinned_request(sock, url, "POST", "0::") == "1"
    else:
        pinned_request(sock, url + "?disconnect=1")
    wait_for(lambda: left(four, client.sid))
    assert hooks(four, client.sid) == {
        owner: [("initialize", "/chat"), ("recv_connect", "/chat"), ("recv_disconnect", "/chat")]
    }


@pytest.mark.parametrize("transport", ["htmlfile", "xhr-multipart"])
def test_a_stream_relayed_from_its_owner(four: Workers, transport: str) -> None:
    sid = handshake(four.url, requests.Session()).sid
    owner = owner_pid(sid)
    # the stream on another worker than the owner: relayed as it comes
    stream = PinnedStream(
        pinned_socket(four.url, lambda pid: pid != owner), four.url, transport, sid
    )
    try:
        assert stream.status == 200
        assert stream.packets() == ["1::"]
        post = transport_url(four.url, transport, sid)
        assert requests.post(post, data=b"1::/chat", timeout=5).text == "1"
        for n in range(1, 7):
            body = event("/chat", "echo", n, msgid=n).encode()
            assert requests.post(post, data=body, timeout=5).text == "1"
        seen: list[str] = []
        while len(seen) < 8:
            seen += [p for p in stream.packets() if p[0] in "156"]
        assert seen == echo_transcript(6)
        assert served_by(four.access(), sid)  # (the POSTs, logged; the stream is when it ends)
        pinned_request(pinned_socket(four.url, lambda pid: pid != owner), post + "?disconnect=1")
        wait_for(lambda: left(four, sid))
        assert hooks(four, sid) == {
            owner: [
                ("initialize", "/chat"),
                ("recv_connect", "/chat"),
                ("recv_disconnect", "/chat"),
            ]
        }
    finally:
        stream.close()
    wait_spread(four, sid)


# -- timers and broadcasts (the Redis workers) ------------------------------------------


def test_a_client_gone_is_disconnected_after_the_close_timeout(redis_four: Workers) -> None:
    client = Scattered(redis_four.url)
    assert client.packets() == ["1::"]
    client.send("1::/chat")
    client.wait_for(lambda raw: raw.startswith("5::/chat:"))
    # and nothing more: no GET comes, so the owner's close timeout (2 s) ends the session
    wait_for(
        lambda: left(redis_four, client.sid),
        timeout=10,
    )
    assert hooks(redis_four, client.sid) == {
        owner_pid(client.sid): [
            ("initialize", "/chat"),
            ("recv_connect", "/chat"),
            ("recv_disconnect", "/chat"),
        ]
    }
    assert client.get() == "7:::1+0"  # (its next GET, wherever it lands: a session gone)


def test_a_relayed_stream_carries_heartbeats_both_ways(redis_four: Workers) -> None:
    url = redis_four.url
    sid = handshake(url, requests.Session()).sid
    owner = owner_pid(sid)
    stream = PinnedStream(pinned_socket(url, lambda pid: pid != owner), url, "xhr-multipart", sid)
    post = transport_url(url, "xhr-multipart", sid)
    try:
        assert stream.packets() == ["1::"]
        assert requests.post(post, data=b"1::/chat", timeout=5).text == "1"
        # The owner's heartbeats come through the relay; the answers, POSTed
        # to any worker, reach it: past its heartbeat timeout, the session lives.
        beats = 0
        until = time.monotonic() + 3  # (heartbeat_timeout is 2 s)
        while time.monotonic() < until:
            for packet in stream.packets():
                if packet == "2::":
                    beats += 1
                    assert requests.post(post, data=b"2::", timeout=5).text == "1"
        assert beats >= 4
        assert not left(redis_four, sid)
        body = event("/chat", "echo", "alive", msgid=1).encode()
        assert requests.post(post, data=body, timeout=5).text == "1"
        while '6::/chat:1+["alive"]' not in stream.packets():
            pass
        # Unanswered heartbeats: the owner ends the session after its heartbeat timeout.
        wait_for(lambda: left(redis_four, sid), timeout=10)
        assert hooks(redis_four, sid) == {
            owner: [
                ("initialize", "/chat"),
                ("recv_connect", "/chat"),
                ("recv_disconnect", "/chat"),
            ]
        }
    finally:
        stream.close()


def test_a_broadcast_reaches_the_polling_clients_of_every_worker_once(redis_four: Workers) -> None:
    clients: dict[int, Scattered] = {}
    for _ in range(10):  # one client owned by each worker
        for sid in handshakes(redis_four.url):
            clients.setdefault(owner_pid(sid), Scattered(redis_four.url, sid=sid))
        if len(clients) == WORKERS:
            break
    assert len(clients) == WORKERS, sorted(clients)
    for client in clients.values():
        assert client.packets() == ["1::"]
        client.send("1::/chat")
        client.wait_for(lambda raw: raw.startswith("5::/chat:"))
    sender = next(iter(clients.values()))
    sender.send(event("/chat", "broadcast", "one"))
    sender.send(event("/chat", "broadcast", "two"))
    for client in clients.values():
        got: list[str] = []
        while '5::/chat:{"args":["two"],"name":"broadcast"}' not in got:
            got += [p for p in client.packets() if p.startswith("5::/chat:")]
        assert got == [
            '5::/chat:{"args":["one"],"name":"broadcast"}',
            '5::/chat:{"args":["two"],"name":"broadcast"}',
        ]
    for client in clients.values():
        client.close()


# -- faults (last: a worker of the module's gunicorn is killed) --------------------------


def test_the_owner_killed_its_clients_start_again(four: Workers, node_modules: Any) -> None:
    node = NodeClient(four.url)
    try:
        node.call("agent", keepAlive=False)
        options = {"reconnect": True, "reconnection delay": 100, "max reconnection attempts": 20}
        sid = node.connect("C", "/chat", "xhr-polling", **options)
        owner = owner_pid(sid)
        assert node.emit("C", "echo", "before", ack=True) == ["before"]
        same = []
        for _ in range(10):  # a wire-level session of the same owner
            same = [sid for sid in handshakes(four.url) if owner_pid(sid) == owner]
            if same:
                break
        assert same, "no handshake reached the node client's worker"
        wire = Scattered(four.url, sid=same[0])
        assert wire.packets() == ["1::"]

        os.kill(owner, signal.SIGKILL)  # gunicorn starts another worker
        assert wire.get() == "7:::1+0"  # wherever it lands: the session is gone
        node.wait("socket:C", "reconnect", ms=10000)
        state = node.call("state", label="C")
        assert state["connected"]
        assert state["sessionid"] != sid
        assert owner_pid(state["sessionid"]) != owner
        assert node.emit("C", "echo", "after", ack=True) == ["after"]
    finally:
        node.close()
