"""The test server (:mod:`tests.integration.server_app`) with its websockets left unserved.

As a router that sends websocket requests elsewhere does (a Flask view that
Werkzeug never gives them to): the websocket closes before ``1::``, the
server keeps its id for the client's next transport (``keep_ungreeted``), and
a polling GET with that id is served as a new session once
(``revive_socket``). Polling is served as by ``server_app``.

    python -m tests.integration.unserved_app --port PORT [server_app's options]
"""

from __future__ import annotations

from typing import Any

from tests.integration import server_app

#: server_app's own application (main is made to serve ours instead)
SERVED = server_app.application


def application(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """404 for websockets (without calling ``socketio_manage``), ``server_app``'s answer else."""
    if "/websocket/" in environ.get("PATH_INFO", ""):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    return SERVED(environ, start_response)


if __name__ == "__main__":
    server_app.application = application  # (main serves the module's application)
    server_app.main()
