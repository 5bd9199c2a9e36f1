"""Cross-origin Socket.IO: the page comes from one port, Socket.IO from another.

Two servers in one process: a plain web server for the page on ``--port``
(8082), and a :class:`~socketio.server.SocketIOServer` on ``--io-port`` (8083)
that accepts only the page's origins (the ``origins`` setting). Run it from
the repository root with ``./run example cross_origin`` (or ``python serve.py``),
then open http://localhost:8082/ (``?transport=xhr-polling`` to use
cross-origin XHR instead of a websocket).
"""

from gevent import monkey

monkey.patch_all()

import argparse
import json
import logging
import pathlib
import time

from gevent.pywsgi import WSGIServer

from socketio import socketio_manage
from socketio.namespace import BaseNamespace
from socketio.server import SocketIOServer

HERE = pathlib.Path(__file__).resolve().parent
CLIENT_JS = HERE.parent / "node_modules" / "socket.io-client" / "dist" / "socket.io.js"
log = logging.getLogger("cross_origin")


class ClockNamespace(BaseNamespace):
    """'/clock': ``emit('ping', client_ms, callback)`` is answered with the server's time."""

    def on_ping(self, client_ms):
        return {"client": client_ms, "server": int(time.time() * 1000)}


def io_application(environ, start_response):
    """The Socket.IO side: nothing but /socket.io/."""
    if environ["PATH_INFO"].startswith("/socket.io/"):
        socketio_manage(environ, {"/clock": ClockNamespace})
        return []
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def page_application(io_port):
    """The page side: index.html, told where the Socket.IO server is."""

    def app(environ, start_response):
        if environ["PATH_INFO"] not in ("/", "/index.html"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        host = environ.get("HTTP_HOST", "localhost").rsplit(":", 1)[0]
        io_url = f"http://{host}:{io_port}"
        html = (HERE / "index.html").read_text(encoding="utf-8")
        body = html.replace("IO_URL_JSON", json.dumps(io_url)).replace("IO_URL", io_url).encode()
        start_response(
            "200 OK",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082, help="port of the page")
    parser.add_argument("--io-port", type=int, default=8083, help="port of Socket.IO")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Only pages served by the page server may use Socket.IO (CORS for polling,
    # the Origin check for websockets); any other origin gets 403.
    origins = [f"http://{name}:{args.port}" for name in ("localhost", "127.0.0.1")]
    io_server = SocketIOServer(
        (args.host, args.io_port),
        io_application,
        origins=origins,
        policy_server=False,
        client_js=str(CLIENT_JS) if CLIENT_JS.exists() else None,
    )
    page_server = WSGIServer((args.host, args.port), page_application(args.io_port))
    page_server.start()
    log.info("page on http://localhost:%d/, Socket.IO on port %d", args.port, args.io_port)
    log.info("allowed origins: %s", " ".join(origins))
    io_server.serve_forever()


if __name__ == "__main__":
    main()
