"""Soak test: many connect / emit / disconnect cycles, then count what is left.

    .venv/bin/python benchmarks/soak.py [--cycles 10000] [--transports websocket,xhr-polling,...]

The server runs in this process (so its sockets, greenlets and memory can be
read); the clients are real wire-level clients (websocket-client and
``requests``) speaking the 0.9 protocol, cycling through the transports. Each
cycle handshakes, opens the transport, connects ``/chat``, emits an event with
an ack, and leaves (half the cycles with ``0::``, half by dropping the
connection). Printed: cycles per transport, sessions and greenlets left, and
RSS before and after.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse
import gc
import json
import logging
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import gevent
import greenlet

from socketio import socketio_manage
from socketio.namespace import BaseNamespace
from socketio.server import SocketIOServer

# The tests' wire client. Appended once socketio is imported, so that run as
# ``benchmarks/soak.py`` the installed socketio is the one soaked.
sys.path.append(str(Path(__file__).resolve().parents[1]))
from tests.client09.polling import PollingClient
from tests.client09.websocket import WebSocketClient


class EchoNamespace(BaseNamespace):
    """A namespace whose ``echo`` answers the ack with its arguments."""

    def on_echo(self, *args: Any) -> Any:
        """Answer the ack with the event's arguments."""
        return args


def application(environ: dict, start_response: Callable) -> list[bytes]:
    """Serve the echo namespace at ```` and ``/chat``."""
    socketio_manage(environ, {"": EchoNamespace, "/chat": EchoNamespace})
    return []


def live_greenlets() -> list[greenlet.greenlet]:
    """The greenlets alive now (after a collection)."""
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, greenlet.greenlet) and not o.dead]


def where(glet: greenlet.greenlet) -> str:
    """Where a greenlet is parked (its innermost frames), to name a leftover one."""
    frame, places = glet.gr_frame, []
    while frame is not None and len(places) < 4:
        places.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        frame = frame.f_back
    return f"{type(glet).__name__} at {' < '.join(places) or 'not started'}"


def rss_kib() -> int:
    """This process's resident memory, in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Cycler:
    """Runs one connect / emit / disconnect cycle per call, on a given transport."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.count = 0

    def websocket(self) -> None:
        """One websocket cycle: connect ``/chat``, an echo with ack, ``0::`` every other time."""
        client = WebSocketClient(self.url)
        assert client.connect("/chat") == "1::/chat"
        assert client.call("/chat", "echo", "x") == ["x"]
        if self.count % 2:
            client.send("0::")
        client.close()

    def polling(self, transport: str = "xhr-polling") -> None:
        """One polling cycle: connect ``/chat``, an echo with ack, then a disconnect."""
        client = PollingClient(self.url, transport)  # its first GET answered 1::
        client.post("1::/chat")
        client.post('5:1+:/chat:{"name":"echo","args":["x"]}')
        body = client.get()
        if "6::/chat:1+" not in body:
            body += client.get()
        assert "6::/chat:1+" in body, body
        if self.count % 2:
            client.post("0::")
        else:
            client.http.get(f"{self.url}/socket.io/1//{client.sid}/?disconnect=1")
        client.http.close()

    def jsonp(self) -> None:
        """One jsonp-polling cycle."""
        self.polling("jsonp-polling")

    def run(self, transport: str) -> None:
        """Run one cycle on ``transport``."""
        self.count += 1
        {"websocket": self.websocket, "xhr-polling": self.polling, "jsonp-polling": self.jsonp}[
            transport
        ]()


def settle(server: SocketIOServer, before: Optional[set[int]] = None, wait: float = 5.0) -> None:
    """Wait (at most ``wait`` s) until the server has no session and no connection left.

    With ``before`` (ids of greenlets), also until no other greenlet is left:
    a session's end runs in greenlets of its own, which a loaded machine may
    not have run yet when the last connection is gone.
    """
    deadline = time.monotonic() + wait

    def busy() -> bool:
        if server.sockets or server.connections.count:
            return True
        return before is not None and any(id(glet) not in before for glet in live_greenlets())

    while busy() and time.monotonic() < deadline:
        # (PyPy closes the sockets the clients dropped only when it collects
        # them; their connections' greenlets end after that)
        gc.collect()
        gevent.sleep(0.05)
    gevent.sleep(0.2)


def soak(cycles: int, transports: list[str]) -> dict[str, Any]:
    """Run ``cycles`` cycles spread over ``transports``; return what was measured."""
    server = SocketIOServer(("127.0.0.1", 0), application, policy_server=False, log=None)
    server.start()
    try:
        cycler = Cycler(server.server_port)
        for transport in transports:  # warm up imports and caches before the baseline
            cycler.run(transport)
        settle(server)
        greenlets_before = {id(glet) for glet in live_greenlets()}
        rss_before = rss_kib()
        started = time.perf_counter()
        for i in range(cycles):
            cycler.run(transports[i % len(transports)])
        elapsed = time.perf_counter() - started
        settle(server, greenlets_before)
        left = [glet for glet in live_greenlets() if id(glet) not in greenlets_before]
        return {
            "cycles": cycles,
            "seconds": elapsed,
            "sockets_left": len(server.sockets),
            "farewells_kept": len(server.farewells),
            "greenlets_left": len(left),
            "greenlets_left_at": [where(glet) for glet in left[:5]],
            "rss_before_kib": rss_before,
            "rss_after_kib": rss_kib(),
        }
    finally:
        server.stop()


def main() -> None:
    """Run the connect / emit / disconnect cycles and print the greenlets and memory left."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--transports", default="websocket,xhr-polling,jsonp-polling")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result = soak(args.cycles, args.transports.split(","))
    if args.json:
        print(json.dumps(result))
        return
    rows = [
        ("cycles", result["cycles"]),
        ("cycles per second", f"{result['cycles'] / result['seconds']:.0f}"),
        ("sockets left", result["sockets_left"]),
        ("farewells kept", result["farewells_kept"]),
        ("greenlets left", result["greenlets_left"]),
        ("RSS before (KiB)", result["rss_before_kib"]),
        ("RSS after (KiB)", result["rss_after_kib"]),
        ("RSS growth (KiB)", result["rss_after_kib"] - result["rss_before_kib"]),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
