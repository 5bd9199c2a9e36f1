"""Flask: ``socketio_manage`` inside a Flask view (examples/flask_chat), served by SocketIOServer."""

from __future__ import annotations

import pytest
import requests

from .examples import chat_through_rooms, start_example


@pytest.fixture(scope="module")
def flask_chat(tmp_path_factory):
    server = start_example("flask_chat", tmp_path_factory.mktemp("flask"))
    yield server
    server.stop()


def test_the_page_and_the_browser_client(flask_chat):
    page = requests.get(flask_chat.url + "/", timeout=5)
    assert page.status_code == 200
    assert "<title>Flask chat</title>" in page.text  # rendered by Flask's Jinja
    assert '<script src="/socket.io/socket.io.js">' in page.text
    script = requests.get(flask_chat.url + "/socket.io/socket.io.js", timeout=5)
    assert script.status_code == 200
    assert "io.version = '0.9.16'" in script.text
    again = requests.get(
        flask_chat.url + "/socket.io/socket.io.js",
        headers={"If-None-Match": script.headers["ETag"]},
        timeout=5,
    )
    assert again.status_code == 304


def test_chat_through_rooms_over_websocket_and_polling(flask_chat):
    chat_through_rooms(flask_chat.url)
    # The namespace got Flask's request object (it logs request.remote_addr).
    assert "new socket from 127.0.0.1" in flask_chat.log()


def test_flask_404_for_other_paths(flask_chat):
    assert requests.get(flask_chat.url + "/nothing", timeout=5).status_code == 404
