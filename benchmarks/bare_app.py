"""The bare baseline: gevent-websocket and pywsgi with no Socket.IO at all.

    python benchmarks/bare_app.py PORT

The limit of this stack (gevent, ``gevent.pywsgi``, gevent-websocket 0.10) for
the same traffic as the benchmark application, without sessions, packets,
namespaces or JSON:

- ``/bare`` (websocket): every text frame is sent back as it is (workloads A,
  B), except a frame starting ``5:::{"name":"broadcast"``, which is sent as it
  is to every open ``/bare`` websocket (C). A connection costs what
  gevent-websocket costs (E): one handler greenlet, no handshake request.
- ``/poll/<client>`` (long-polling, D): a POST queues its body for that client
  and answers ``1``; a GET waits (at most 20 s, then ``8::``) for the queued
  bodies and answers them. Two HTTP requests per echo, as in xhr-polling.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse
from socket import IPPROTO_TCP, TCP_NODELAY
from typing import Any

import gevent.queue
from gevent.pywsgi import WSGIServer
from geventwebsocket.exceptions import WebSocketError
from geventwebsocket.handler import WebSocketHandler

BROADCAST_PREFIX = '5:::{"name":"broadcast"'
SOCKETS: set[Any] = set()
QUEUES: dict[str, gevent.queue.Queue] = {}
POLL_TIMEOUT = 20.0
TEXT = [("Content-Type", "text/plain; charset=UTF-8")]


def websocket_echo(ws: Any) -> None:
    """Echo every websocket message back (no Socket.IO: the floor of the transport's cost)."""
    SOCKETS.add(ws)
    try:
        while True:
            message = ws.receive()
            if message is None:
                break
            if isinstance(message, str) and message.startswith(BROADCAST_PREFIX):
                for other in list(SOCKETS):
                    try:
                        other.send(message)
                    except WebSocketError:
                        SOCKETS.discard(other)
            else:
                ws.send(message)
    except WebSocketError:
        pass
    finally:
        SOCKETS.discard(ws)


def poll(environ: dict, start_response: Any, client: str) -> list[bytes]:
    """Long-poll echo for ``client``: a POST queues its body, a GET waits for the next one."""
    queue = QUEUES.get(client)
    if queue is None:
        queue = QUEUES[client] = gevent.queue.Queue()
    if environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        queue.put(environ["wsgi.input"].read(length))
        start_response("200 OK", TEXT)
        return [b"1"]
    try:
        bodies = [queue.get(timeout=POLL_TIMEOUT)]
        while queue.qsize():
            bodies.append(queue.get_nowait())
    except gevent.queue.Empty:
        bodies = [b"8::"]
    start_response("200 OK", TEXT)
    return bodies


def application(environ: dict, start_response: Any) -> list[bytes]:
    """Route to the websocket echo, the long-poll echo, or 404."""
    path = environ.get("PATH_INFO", "")
    ws = environ.get("wsgi.websocket")
    if ws is not None and path == "/bare":
        websocket_echo(ws)
        return []
    if path.startswith("/poll/"):
        return poll(environ, start_response, path[len("/poll/") :])
    start_response("404 Not Found", TEXT)
    return [b"not found"]


class BareServer(WSGIServer):
    """pywsgi with TCP_NODELAY on accepted sockets, as ``SocketIOServer`` does."""

    def handle(self, sock: Any, address: Any) -> None:
        """Serve the connection with Nagle's algorithm off, as the Socket.IO server does."""
        sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
        super().handle(sock, address)


def make_server(port: int, host: str = "127.0.0.1") -> WSGIServer:
    """The bare server (pywsgi with gevent-websocket's handler) on ``host``:``port``."""
    return BareServer((host, port), application, handler_class=WebSocketHandler, log=None)


def main(argv: list[str] | None = None) -> None:
    """Serve the bare app on the port given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    args = parser.parse_args(argv)
    make_server(args.port).serve_forever()


if __name__ == "__main__":
    main()
