"""The paste server runner: ``use = egg:gevent-socketio#paster`` in a real PasteDeploy ``.ini``.

examples/pyramid_app/development.ini names the runner; ``pserve`` (Pyramid's
PasteDeploy front end) serves the Pyramid application with it.
"""

from __future__ import annotations

import importlib.metadata

import pytest
import requests
from paste.deploy import loadapp, loadserver
from paste.deploy.loadwsgi import SERVER, loadcontext

from socketio.server import serve_paste
from socketio.testing import SocketIOTestClient
from tests.client09.framing import parse
from tests.client09.handshake import handshake
from tests.client09.websocket import WebSocketClient

from .examples import EXAMPLES, start_example

pytestmark = pytest.mark.filterwarnings("ignore:.cgi. is deprecated:DeprecationWarning")

INI = EXAMPLES / "pyramid_app" / "development.ini"


def test_the_entry_point_resolves_to_serve_paste():
    found = importlib.metadata.entry_points()
    if isinstance(found, dict):  # Python 3.9 (PyPy 7.3): entry points by group
        runners = found.get("paste.server_runner", [])
    else:
        runners = found.select(group="paste.server_runner")
    # (a set: 3.9 lists a distribution once per path it is found on)
    [entry] = {entry for entry in runners if entry.name == "paster"}
    assert entry in importlib.metadata.distribution("gevent-socketio").entry_points
    assert entry.load() is serve_paste


def test_paste_deploy_loads_the_runner_from_the_ini():
    assert callable(loadserver(f"config:{INI}"))
    context = loadcontext(SERVER, f"config:{INI}", global_conf={"http_port": "7000"})
    assert context.object is serve_paste
    assert context.local_conf["port"] == "7000"  # `get port = http_port`
    assert context.local_conf["transports"] == "websocket, xhr-polling, jsonp-polling"


def test_the_pyramid_app_from_the_ini_under_the_test_client(monkeypatch):
    """The same .ini's app, driven in-process by socketio.testing."""
    monkeypatch.syspath_prepend(str(INI.parent))
    app = loadapp(f"config:{INI}")
    with SocketIOTestClient(app=app) as ann, SocketIOTestClient(app=app, server=ann.server) as bob:
        ann.connect("/counter")
        bob.connect("/counter")
        assert ann.get_received("/counter")[0]["args"] == [0]
        assert ann.emit("increment", 2, namespace="/counter", callback=True) == [2]
        assert [p["args"] for p in bob.get_received("/counter")] == [[0], [2]]


@pytest.fixture(scope="module")
def pserve(tmp_path_factory):
    server = start_example("pyramid_app", tmp_path_factory.mktemp("paste"))
    yield server
    server.stop()


def test_pserve_serves_the_app_and_socketio(pserve):
    page = requests.get(pserve.url + "/", timeout=5)
    assert page.status_code == 200
    assert "Pyramid counter" in page.text
    script = requests.get(pserve.url + "/socket.io/socket.io.js", timeout=5)
    assert script.status_code == 200  # client_js from the .ini
    # The .ini's transports reached the server.
    assert handshake(pserve.url)[3] == "websocket,xhr-polling,jsonp-polling"
    assert "[socketio.server] serving on http://127.0.0.1:" in pserve.log()


def test_two_clients_share_the_counter(pserve):
    ann, bob = WebSocketClient(pserve.url), WebSocketClient(pserve.url)
    try:
        ann.connect("/counter")
        bob.connect("/counter")
        start = parse(ann.recv())["data"]["args"][0]
        assert parse(bob.recv())["data"]["args"] == [start]
        assert ann.call("/counter", "increment", 5) == [start + 5]
        assert parse(bob.recv())["data"] == {"name": "count", "args": [start + 5]}
    finally:
        ann.close()
        bob.close()
