"""A Flask app ported from gevent-socketio 0.3, with and without ``SocketIOMiddleware``.

Its view is registered with ``@app.route('/socket.io/<path:remaining>')``
only: Werkzeug 2 and newer do not send websocket requests to it. Without the
middleware the websocket sessions are never served, and the server says why
in one warning; with it every transport is served.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest
import requests

from tests.client09.framing import event
from tests.client09.handshake import handshake, transport_url
from tests.client09.polling import PollingClient
from tests.client09.websocket import WebSocketClient, open_websocket, read_to_close

from .conftest import LiveServer


class FlaskPortServer(LiveServer):
    """tests/integration/flask_port_app.py in a subprocess."""

    module = "tests.integration.flask_port_app"


@pytest.fixture(scope="module")
def unwrapped():
    server = FlaskPortServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def wrapped():
    server = FlaskPortServer(middleware=1).start()
    yield server
    server.stop()


def test_without_the_middleware_the_websocket_is_not_served_and_one_warning_says_why(unwrapped):
    for _ in range(3):
        sid = handshake(unwrapped.url).sid
        ws = open_websocket(unwrapped.url, sid)
        # Flask answered the upgrade's request without calling socketio_manage:
        # the websocket closes with neither "1::" nor "0::" (a 0.9 client then
        # tries its next transport, see test_a_real_client_falls_back_to_polling).
        assert read_to_close(ws) == ([], 1000)
    deadline = time.monotonic() + 5
    while "socketio_manage" not in unwrapped.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = unwrapped.log()
    assert log.count("returned without calling socketio_manage") == 1  # rate-limited
    assert "websocket=True" in log
    assert "SocketIOMiddleware" in log
    # Polling requests reach the view: served, no warning for them.
    bob = PollingClient(unwrapped.url)
    bob.send("1::/echo")
    assert bob.packets() == ["1::/echo"]
    bob.close()


def test_the_next_transport_gets_the_unserved_websocket_session_id_once(unwrapped):
    """As the 0.9 client does after its connect timeout: the same id, on xhr-polling."""
    sid = handshake(unwrapped.url).sid
    assert read_to_close(open_websocket(unwrapped.url, sid)) == ([], 1000)
    # not a POST (a client's first request on a transport is a GET)
    refused = requests.post(transport_url(unwrapped.url, "xhr-polling", sid), "1::/echo", timeout=5)
    assert refused.text == "7:::1+0"
    bob = PollingClient(unwrapped.url, sid=sid)
    assert bob.packets() == ["1::"]
    bob.send("1::/echo")
    assert bob.packets() == ["1::/echo"]
    bob.send(event("/echo", "echo", "again", msgid=1))
    assert bob.packets() == ['6::/echo:1+[["again","Request"]]']
    bob.close()
    # once: an id ended since is not served again
    late = PollingClient(unwrapped.url, sid=sid)
    assert late.packets() == ["7:::1+0"]
    late.close()


def test_the_middleware_serves_websocket_and_polling(wrapped):
    ann = WebSocketClient(wrapped.url)
    assert ann.connect("/echo") == "1::/echo"
    # make_request=Request: the namespace got a Flask request of its environ
    assert ann.call("/echo", "echo", "hi") == [["hi", "Request"]]
    for transport in ("xhr-polling", "jsonp-polling"):
        bob = PollingClient(wrapped.url, transport)
        bob.send("1::/echo")
        assert bob.packets() == ["1::/echo"]
        bob.send(event("/echo", "echo", transport, msgid=1))
        assert bob.packets() == [f'6::/echo:1+[["{transport}","Request"]]']
        bob.close()
    assert "socketio_manage" not in wrapped.log()


def test_the_middleware_passes_other_requests_to_flask(wrapped):
    page = requests.get(wrapped.url + "/", timeout=5)
    assert (page.status_code, page.text) == (200, "flask index")
    assert requests.get(wrapped.url + "/nothing", timeout=5).status_code == 404


#: the real 0.9.16 client with its default options: it prints its events, one JSON a line
FALLBACK_JS = """
var io = require('socket.io-client');
var url = process.argv[process.argv.length - 1];
var s = io.connect(url + '/echo', {'force new connection': true});
['connecting', 'disconnect', 'reconnect', 'connect_failed'].forEach(function (n) {
  s.socket.on(n, function (a) { console.log(JSON.stringify([n, a])); });
});
s.on('connect', function () {
  s.emit('echo', 'hi', function (a) {
    console.log(JSON.stringify(['ack', a, s.socket.transport.name]));
    process.exit(0);
  });
});
setTimeout(function () { process.exit(1); }, 30000);
"""


def test_a_real_client_falls_back_to_polling(unwrapped, node_modules):
    """Not greeted on its websocket, the 0.9 client tries xhr-polling after its connect timeout.

    (Its websocket opens and closes; ten seconds later, its ``connect
    timeout``, it tries the next transport with the same session id, which
    the server serves.)
    """
    node = shutil.which("node")
    assert node, "node is not on PATH"
    done = subprocess.run(
        [node, "-e", FALLBACK_JS, unwrapped.url],
        capture_output=True,
        text=True,
        timeout=40,
        cwd=node_modules.parent,
        env={**os.environ, "NODE_PATH": str(node_modules)},
    )
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("[")]
    assert done.returncode == 0, (events, done.stderr)
    # its session id served on the next transport: neither booted nor reconnecting
    assert events == [
        ["connecting", "websocket"],
        ["connecting", "xhr-polling"],
        ["ack", ["hi", "Request"], "xhr-polling"],
    ]
