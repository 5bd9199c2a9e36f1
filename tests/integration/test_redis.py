"""Rooms and broadcast across server processes through a real redis-server.

Each test runs two ``server_app`` processes started with ``--manager
redis://...`` against a redis-server of its own (a free port, a temporary
directory), and clients speaking the 0.9 wire format directly: websocket
(websocket-client) and xhr-polling (requests), spread over both processes.

"Exactly once" and "none" are checked after a barrier: an
:class:`~socketio.emitter.Emitter` publishes a ``sync`` event to the whole
namespace and the test waits until every client has it. Redis delivers the
messages of a channel in order, and each server delivers them in order, so a
packet sent before the barrier (a duplicate included) would have arrived
before it.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import requests
import websocket

from socketio.emitter import Emitter
from tests.client09.framing import unframe
from tests.client09.handshake import handshake, transport_url
from tests.client09.waiting import wait_for

from .conftest import ROOT, LiveServer, free_port

TIMEOUT = 10


# -- redis-server -------------------------------------------------------------


class RedisServer:
    """A throw-away redis-server on a free port, persisting nothing."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="socketio-redis-")
        self.proc: subprocess.Popen[bytes] | None = None
        #: it listens on this unix socket too
        self.unix_path = os.path.join(self._dir.name, "redis.sock")

    def start(self) -> RedisServer:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", self._dir.name, "--save", "", "--appendonly", "no"]
        args += ["--logfile", os.path.join(self._dir.name, "redis.log")]
        args += ["--unixsocket", self.unix_path, "--unixsocketperm", "700"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)
        client.close()
        return self

    def kill(self) -> None:
        """Kill it abruptly (SIGKILL), as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        self.kill()
        self._dir.cleanup()


def start_servers(redis_url: str, count: int = 2) -> list[LiveServer]:
    """``count`` server processes sharing ``redis_url`` through a RedisManager, started in parallel."""
    servers = [LiveServer(manager=redis_url, polling_duration=2) for _ in range(count)]
    errors: list[BaseException] = []

    def start(server: LiveServer) -> None:
        try:
            server.start()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        for server in servers:
            server.stop()
        raise errors[0]
    return servers


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server shared by the tests of this module that do not kill it."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def two_servers(redis_server: RedisServer) -> Iterator[list[LiveServer]]:
    """Two server processes sharing ``redis_server``."""
    servers = start_servers(redis_server.url)
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def emitter(redis_server: RedisServer) -> Iterator[Emitter]:
    with Emitter(redis_server.url) as em:
        yield em


# -- 0.9 clients --------------------------------------------------------------


def split_packet(raw: str) -> tuple[str, str, str, str]:
    """``'5:1+:/chat:{..}'`` → ``('5', '1+', '/chat', '{..}')``."""
    parts = [*raw.split(":", 3), "", "", ""]
    return parts[0], parts[1], parts[2], parts[3]


class Client:
    """A Socket.IO 0.9 client: what it received, and calls that wait for their ack."""

    transport = ""

    def __init__(self, url: str, name: str, sid: str = "") -> None:
        self.name = name
        self.url = url
        self.packets: list[str] = []
        self.errors: list[BaseException] = []
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self.running = True
        self.sid = sid or handshake(url, timeout=TIMEOUT).sid
        self.transport_url = transport_url(url, self.transport, self.sid)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def received(self, raw: str) -> None:
        if raw == "2::":
            self.send("2::")
        with self._cond:
            self.packets.append(raw)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[str]], Any], what: str) -> Any:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.packets), TIMEOUT):
                raise AssertionError(f"{self.name}: no {what} in {self.packets} {self.errors}")
            return predicate(self.packets)

    def send(self, raw: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.running = False

    # -- Socket.IO -------------------------------------------------------

    def connect(self, endpoint: str = "/chat") -> Client:
        self.wait_for(lambda pkts: "1::" in pkts, "1::")
        self.send(f"1::{endpoint}")
        self.wait_for(lambda pkts: f"1::{endpoint}" in pkts, f"1::{endpoint}")
        return self

    def call(self, event: str, *args: Any, endpoint: str = "/chat") -> list[Any]:
        """Emit ``event`` asking for an ack; return the ack's args once the handler has run."""
        msgid = next(self._ids)
        data = json.dumps({"name": event, "args": list(args)})
        self.send(f"5:{msgid}+:{endpoint}:{data}")

        def ack(pkts: list[str]) -> Any:
            for raw in pkts:
                ptype, _, ep, rest = split_packet(raw)
                if ptype == "6" and ep == endpoint and rest.startswith(f"{msgid}+"):
                    return [json.loads(rest.partition("+")[2])]
            return None

        return self.wait_for(ack, f"ack {msgid}")[0]

    def events(self, name: str, endpoint: str = "/chat") -> list[list[Any]]:
        """The args of every ``name`` event received on ``endpoint``, in order."""
        found = []
        with self._cond:
            pkts = list(self.packets)
        for raw in pkts:
            ptype, _, ep, data = split_packet(raw)
            if ptype == "5" and ep == endpoint:
                event = json.loads(data)
                if event.get("name") == name:
                    found.append(event.get("args", []))
        return found

    def raw(self, prefix: str) -> list[str]:
        with self._cond:
            return [p for p in self.packets if p.startswith(prefix)]


class WebsocketClient(Client):
    transport = "websocket"

    def __init__(self, url: str, name: str, sid: str = "", sock: Any = None) -> None:
        super().__init__(url, name, sid)
        self.ws = websocket.create_connection(
            self.transport_url.replace("http://", "ws://"), timeout=TIMEOUT, socket=sock
        )
        self.ws.settimeout(None)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while self.running:
                self.received(self.ws.recv())
        except (websocket.WebSocketException, OSError) as exc:
            if self.running:
                self.errors.append(exc)

    def send(self, raw: str) -> None:
        self.ws.send(raw)

    def close(self) -> None:
        super().close()
        try:
            self.ws.send("0::")
            self.ws.close()
        except (websocket.WebSocketException, OSError):
            pass


class PollingClient(Client):
    transport = "xhr-polling"

    def __init__(self, url: str, name: str) -> None:
        super().__init__(url, name)
        self.http = requests.Session()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        try:
            while self.running:
                resp = requests.get(self.transport_url, timeout=TIMEOUT)
                packets = unframe(resp.text) if resp.text else []
                for raw in packets:
                    if raw != "8::":
                        self.received(raw)
                if "0::" in packets:
                    break
        except requests.RequestException as exc:
            if self.running:
                self.errors.append(exc)

    def send(self, raw: str) -> None:
        resp = self.http.post(self.transport_url, data=raw.encode(), timeout=TIMEOUT)
        assert resp.status_code == 200, (resp.status_code, resp.text)

    def close(self) -> None:
        super().close()
        try:
            self.send("0::")
        except (requests.RequestException, AssertionError):
            pass
        self.http.close()


@pytest.fixture
def clients() -> Iterator[Callable[..., Client]]:
    """A factory: ``clients(WebsocketClient, server, 'a')``, connected to ``/chat``; closed after."""
    made: list[Client] = []

    def make(cls: type[Client], server: LiveServer, name: str, endpoint: str = "/chat") -> Client:
        client = cls(server.url, name)
        made.append(client)
        return client.connect(endpoint) if endpoint else client

    yield make
    for client in made:
        client.close()


_sync_ids = itertools.count(1)


def barrier(emitter: Emitter, *clients: Client, servers: int = 2) -> None:
    """Publish a ``sync`` event to all of ``/chat`` and wait until each client has it."""
    n = next(_sync_ids)
    assert emitter.emit("sync", n, namespace="/chat") == servers  # every server is subscribed
    for client in clients:
        client.wait_for(lambda pkts, c=client: [n] in c.events("sync"), f"sync {n}")


# -- the tests ----------------------------------------------------------------


@pytest.fixture
def room(two_servers, clients, emitter):
    """Six clients on two servers; four of them join room ``r1``.

    a (ws), b (polling), f (ws, global namespace only) on server 1; c (ws),
    d (polling), e (ws) on server 2. a, b, c, d join room ``r1``; e does not.
    """
    s1, s2 = two_servers
    c = {
        "a": clients(WebsocketClient, s1, "a"),
        "b": clients(PollingClient, s1, "b"),
        "c": clients(WebsocketClient, s2, "c"),
        "d": clients(PollingClient, s2, "d"),
        "e": clients(WebsocketClient, s2, "e"),
        "f": clients(WebsocketClient, s1, "f", endpoint=""),
    }
    for name in "abcd":
        assert c[name].call("join", "r1") == [["/chat_r1"]]
    return c


def test_room_message_reaches_each_member_once_on_every_process(room, emitter):
    a, b, c, d, e, f = (room[k] for k in "abcdef")
    assert a.call("to_room", "r1", "from a") == [None]
    assert c.call("to_room", "r1", "from c") == [None]
    barrier(emitter, a, b, c, d, e)
    assert a.events("room_message") == [["r1", "from c"]]
    assert c.events("room_message") == [["r1", "from a"]]
    for member in (b, d):
        assert sorted(member.events("room_message")) == [["r1", "from a"], ["r1", "from c"]]
    assert e.events("room_message") == []
    assert f.raw("5:") == []


def test_broadcast_reaches_every_socket_of_the_namespace_once(room, emitter):
    a, b, c, d, e, f = (room[k] for k in "abcdef")
    assert d.call("broadcast", "hello all") == [None]
    barrier(emitter, a, b, c, d, e)
    for client in (a, b, c, d, e):
        assert client.events("broadcast") == [["hello all"]], client
    assert f.raw("5:") == []  # not in /chat


def test_broadcast_not_me_skips_the_sender_only(room, emitter):
    a, b, c, d, e = (room[k] for k in "abcde")
    assert b.call("broadcast_others", "not b") == [None]
    assert e.call("broadcast_others", "not e") == [None]
    barrier(emitter, a, b, c, d, e)
    for client in (a, c, d):
        assert sorted(client.events("broadcast")) == [["not b"], ["not e"]], client
    assert b.events("broadcast") == [["not e"]]
    assert e.events("broadcast") == [["not b"]]


def test_leave_and_disconnect_stop_delivery(room, emitter):
    a, b, c, d, e = (room[k] for k in "abcde")
    assert c.call("leave", "r1") == [[]]
    d.send("0::/chat")  # d leaves the namespace (and so its rooms)
    barrier(emitter, a, b, c, e)
    assert a.call("to_room", "r1", "after") == [None]
    assert e.call("broadcast", "after") == [None]
    barrier(emitter, a, b, c, e)
    assert b.events("room_message") == [["r1", "after"]]
    assert c.events("room_message") == []
    assert d.events("room_message") == []
    assert d.events("broadcast") == []
    assert c.events("broadcast") == [["after"]]


def test_emitter_script_reaches_members_on_every_process(room, emitter, redis_server):
    """A plain Python process (no gevent, no server) emits through Redis."""
    a, b, c, d, e, f = (room[k] for k in "abcdef")
    script = (
        "import sys\n"
        "from socketio.emitter import Emitter\n"
        "em = Emitter(sys.argv[1])\n"
        "print(em.emit('news', {'n': 1}, namespace='/chat', room='r1'))\n"
        "print(em.send('plain text', namespace='/chat'))\n"
        "print(em.send({'k': [1, 2]}, json=True, namespace='/chat', room='r1'))\n"
        "print(em.emit('everyone', 'hi', namespace='/'))\n"
        "print('gevent' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, redis_server.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert proc.stdout.split() == ["2", "2", "2", "2", "False"], proc.stderr
    barrier(emitter, a, b, c, d, e)
    for member in (a, b, c, d):
        assert member.events("news") == [[{"n": 1}]], member
        assert member.raw("3::/chat:") == ["3::/chat:plain text"]
        assert member.raw("4::/chat:") == ['4::/chat:{"k":[1,2]}']
    assert e.events("news") == []
    assert e.raw("4:") == []
    assert e.raw("3::/chat:") == ["3::/chat:plain text"]
    for client in (a, b, c, d, e):
        client.wait_for(lambda pkts: '5:::{"args":["hi"],"name":"everyone"}' in pkts, "everyone")
    f.wait_for(lambda pkts: '5:::{"args":["hi"],"name":"everyone"}' in pkts, "everyone")
    assert f.raw("5::/chat") == []
    assert f.raw("3:") == []


@pytest.fixture
def own_cluster() -> Iterator[tuple[RedisServer, list[LiveServer]]]:
    """A redis-server and two servers for a test that kills Redis."""
    redis_server = RedisServer().start()
    try:
        servers = start_servers(redis_server.url)
        yield redis_server, servers
        for server in servers:
            server.stop()
    finally:
        redis_server.stop()


def test_delivery_survives_redis_going_away_and_resumes(own_cluster, clients):
    redis_server, (s1, s2) = own_cluster
    a = clients(WebsocketClient, s1, "a")
    b = clients(PollingClient, s1, "b")
    c = clients(WebsocketClient, s2, "c")
    for client in (a, b, c):
        assert client.call("join", "r1") == [["/chat_r1"]]
    assert a.call("to_room", "r1", "before") == [None]
    c.wait_for(lambda pkts: ["r1", "before"] in c.events("room_message"), "before")

    redis_server.kill()
    # Local members are still served, and so are new clients; nothing hangs.
    assert a.call("to_room", "r1", "while down") == [None]
    b.wait_for(lambda pkts: ["r1", "while down"] in b.events("room_message"), "while down")
    g = clients(PollingClient, s2, "g")
    assert g.call("join", "r1") == [["/chat_r1"]]
    assert c.call("to_room", "r1", "down, from c") == [None]
    g.wait_for(lambda pkts: ["r1", "down, from c"] in g.events("room_message"), "local")
    assert c.events("room_message") == [["r1", "before"]]  # Redis is down: nothing crossed

    redis_server.start()  # the same port
    # Each server's listener reconnects after its backoff; poll until both have.
    deadline = time.monotonic() + 15
    for n in itertools.count():
        assert a.call("to_room", "r1", f"probe {n}") == [None]
        assert c.call("to_room", "r1", f"probe back {n}") == [None]
        time.sleep(0.2)
        if c.events("room_message")[-1:] == [["r1", f"probe {n}"]] and [
            "r1",
            f"probe back {n}",
        ] in a.events("room_message"):
            break
        assert time.monotonic() < deadline, "cross-process delivery did not resume"
    seen = {client: len(client.events("room_message")) for client in (a, b, c, g)}
    assert a.call("to_room", "r1", "after") == [None]
    with Emitter(redis_server.url) as em:
        barrier(em, a, b, c, g)
    for client in (b, c, g):
        assert client.events("room_message")[seen[client] :] == [["r1", "after"]], client
    assert a.events("room_message")[seen[a] :] == []

    # One warning per outage, then one line when Redis is back (not one per retry).
    for server in (s1, s2):
        log = server.log()
        assert log.count("is unreachable") == 1, log
        assert log.count("is reachable again") == 1, log


def test_server_refuses_a_redis_manager_without_monkey_patching(redis_server):
    """The pytest process is not monkey patched: redis-py would block the hub."""
    script = (
        "import sys\n"
        "from socketio.exceptions import ConfigError\n"
        "from socketio.server import SocketIOServer\n"
        "try:\n"
        "    SocketIOServer(('127.0.0.1', 0), None, manager=sys.argv[1], policy_server=False)\n"
        "except ConfigError as exc:\n"
        "    print(exc.message)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, redis_server.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "gevent.monkey.patch_all()" in proc.stdout, proc.stderr


# -- gunicorn -----------------------------------------------------------------


@pytest.fixture
def gunicorn_url(redis_server: RedisServer) -> Iterator[str]:
    """Gunicorn with two workers whose manager comes from ``socketio_options``.

    They use the channel ``gunicorn`` (set in the URL), apart from the other servers.
    """
    port = free_port()
    log_path = ROOT / ".pytest_cache" / f"gunicorn-{os.getpid()}-{port}.log"
    log_path.parent.mkdir(exist_ok=True)
    env = dict(os.environ, SOCKETIO_TEST_MANAGER=redis_server.url + "?channel=gunicorn")
    args = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}"]
    args += ["-k", "tests.integration.gunicorn_redis.RedisWorker", "--graceful-timeout", "3"]
    args += ["tests.integration.gunicorn_redis:application"]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    client = redis.Redis(port=redis_server.port)
    try:

        def both_listen() -> bool:
            # Both workers are up once both listen on the channel.
            assert proc.poll() is None, log_path.read_text(errors="replace")
            return dict(client.pubsub_numsub("gunicorn")).get(b"gunicorn", 0) >= 2

        wait_for(both_listen, 20, "both workers to listen on the channel")
        yield f"http://127.0.0.1:{port}"
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sticky_websocket(url: str, name: str) -> tuple[int, WebsocketClient]:
    """A websocket client and the pid of the worker it reached.

    Its handshake and upgrade share one keep-alive connection, so they reach
    the same worker.
    """
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    conn.request("GET", "/_pid")
    pid = json.loads(conn.getresponse().read())
    conn.request("GET", "/socket.io/1/")
    sid = conn.getresponse().read().decode().split(":")[0]
    return pid, WebsocketClient(url, name, sid=sid, sock=conn.sock)


def test_gunicorn_workers_share_rooms_through_socketio_options(gunicorn_url, redis_server):
    by_pid: dict[int, list[Client]] = {}
    made: list[Client] = []
    try:
        # Two clients in each of the two workers, from connections made eight
        # at a time: one by one, the kernel gave all of 40 to one worker (on
        # PyPy); a worker busy with one leaves the next to the other. (Holding
        # a worker's loop instead would make its Redis listener's health check
        # time out, and its next emits stay local.)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for batch in range(8):
                for pid, client in pool.map(
                    lambda n, b=batch: sticky_websocket(gunicorn_url, f"w{b}.{n}"), range(8)
                ):
                    made.append(client)
                    group = by_pid.setdefault(pid, [])
                    if len(group) < 2:
                        group.append(client.connect())
                if sorted(map(len, by_pid.values())) == [2, 2]:
                    break
        assert sorted(map(len, by_pid.values())) == [2, 2], by_pid
        members = [client for group in by_pid.values() for client in group]
        for client in members:
            assert client.call("join", "g") == [["/chat_g"]]
        sender = members[0]
        assert sender.call("to_room", "g", "across workers") == [None]
        with Emitter(redis_server.url, channel="gunicorn") as em:
            barrier(em, *members)
        for client in members[1:]:
            assert client.events("room_message") == [["g", "across workers"]], client
        assert sender.events("room_message") == []
    finally:
        for client in made:
            client.close()


def test_a_unix_socket_url_reaches_the_same_bus(room, redis_server):
    a, c = room["a"], room["c"]
    with Emitter(f"unix://{redis_server.unix_path}?db=0") as over_unix:
        assert over_unix.emit("news", "over unix", namespace="/chat", room="r1") == 2
    for client in (a, c):
        client.wait_for(lambda pkts, cl=client: ["over unix"] in cl.events("news"), "news")
