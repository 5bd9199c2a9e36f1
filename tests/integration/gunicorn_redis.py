"""The integration test application under gunicorn, its workers sharing a Redis manager.

``SOCKETIO_TEST_MANAGER=redis://127.0.0.1:<port>/0 gunicorn -w 2
-k tests.integration.gunicorn_redis.RedisWorker tests.integration.gunicorn_redis:application``

The manager reaches each worker's server through ``socketio_options``, as a
deployment would configure it; ``SOCKETIO_TEST_OPTIONS`` (a JSON object) adds
more of them (``{"close_timeout": 3}``). The application is ``server_app``'s
(any worker class serves it). ``/_pid`` answers the worker's process id, so a
test can tell which worker holds a keep-alive connection, and ``/_stall?<seconds>``
holds the worker's whole loop that long once it has answered its first line
(``stalling``): meanwhile only the other workers accept, so a test can send
its next connection away from a worker. With
``SOCKETIO_TEST_EVENTS`` (a directory), each worker also writes the namespace
hooks it runs (``/_events``) to ``<pid>.jsonl`` there: a test reads what every
worker did without having to reach each one through the shared socket.
"""

from __future__ import annotations

import json
import os

from socketio.sgunicorn import GeventSocketIOWorker


class RedisWorker(GeventSocketIOWorker):
    """The default worker with the manager URL from ``SOCKETIO_TEST_MANAGER``."""

    socketio_options = {
        "manager": os.environ.get("SOCKETIO_TEST_MANAGER", "redis://127.0.0.1:6379/0"),
        "polling_duration": 2,
        **json.loads(os.environ.get("SOCKETIO_TEST_OPTIONS", "{}")),
    }


_EVENTS_DIR = os.environ.get("SOCKETIO_TEST_EVENTS")
_record = None


def _record_to_file(kind, ns, detail=None):
    """``server_app.record``, and a line in this worker's file of ``SOCKETIO_TEST_EVENTS``."""
    _record(kind, ns, detail)
    with open(os.path.join(_EVENTS_DIR, f"{os.getpid()}.jsonl"), "a") as out:
        out.write(json.dumps([kind, ns.ns_name, ns.socket.sessid]) + "\n")


def _stall(seconds):
    """The body of ``/_stall``: a first line, then the loop held (an unpatched sleep)."""
    from gevent import monkey

    yield b"stalling\n"
    monkey.get_original("time", "sleep")(seconds)
    yield b"done\n"


def application(environ, start_response):
    if environ["PATH_INFO"] == "/_pid":
        body = json.dumps(os.getpid()).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]
    if environ["PATH_INFO"] == "/_stall":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _stall(float(environ["QUERY_STRING"]))
    # Imported here, in the worker, after gunicorn's gevent worker has patched.
    from . import server_app

    app = server_app.application
    if _EVENTS_DIR and server_app.record is not _record_to_file:
        global _record
        _record = server_app.record
        server_app.record = _record_to_file
    return app(environ, start_response)
