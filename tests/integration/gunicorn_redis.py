"""The integration test application under gunicorn, its workers sharing a Redis manager.

``SOCKETIO_TEST_MANAGER=redis://127.0.0.1:<port>/0 gunicorn -w 2
-k tests.integration.gunicorn_redis.RedisWorker tests.integration.gunicorn_redis:application``

The manager reaches each worker's server through ``socketio_options``, as a
deployment would configure it; ``SOCKETIO_TEST_OPTIONS`` (a JSON object) adds
more of them (``{"close_timeout": 3}``). The application is ``server_app``'s
(any worker class serves it). ``/_pid`` answers the worker's process id, so a
test can tell which worker holds a keep-alive connection, and every answer
that is not Socket.IO's carries it in an ``X-Worker-Pid`` header (so
``/_events`` can be gathered from every worker).
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


def application(environ, start_response):
    pid = str(os.getpid())
    if environ["PATH_INFO"] == "/_pid":
        body = pid.encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]
    # Imported here, in the worker, after gunicorn's gevent worker has patched.
    from .server_app import application as app

    if environ["PATH_INFO"].startswith("/socket.io/"):
        return app(environ, start_response)

    def start_with_pid(status, headers, exc_info=None):
        return start_response(status, [*headers, ("X-Worker-Pid", pid)], exc_info)

    return app(environ, start_with_pid)
