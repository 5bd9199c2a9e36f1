"""The integration test application under gunicorn, its workers sharing a Redis manager.

``SOCKETIO_TEST_MANAGER=redis://127.0.0.1:<port>/0 gunicorn -w 2
-k tests.integration.gunicorn_redis.RedisWorker tests.integration.gunicorn_redis:application``

The manager reaches each worker's server through ``socketio_options``, as a
deployment would configure it. ``/_pid`` answers the worker's process id, so a
test can tell which worker holds a keep-alive connection.
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
    }


def application(environ, start_response):
    if environ["PATH_INFO"] == "/_pid":
        body = json.dumps(os.getpid()).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]
    # Imported here, in the worker, after gunicorn's gevent worker has patched.
    from .server_app import application as app

    return app(environ, start_response)
