"""Django: examples/django_chat under SocketIOServer (``manage.py runsocketio``).

The project uses ``sdjango.autodiscover()`` in its urls.py, ``@namespace('/chat')``
in ``chat/sockets.py`` and ``include(sdjango.urls)``; real 0.9 clients chat
through it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from .examples import EXAMPLES, chat_through_rooms, start_example


@pytest.fixture(scope="module")
def django_chat(tmp_path_factory):
    server = start_example("django_chat", tmp_path_factory.mktemp("django"))
    yield server
    server.stop()


def test_the_page_comes_from_django(django_chat):
    page = requests.get(django_chat.url + "/", timeout=5)
    assert page.status_code == 200
    assert "<title>Django chat</title>" in page.text
    script = requests.get(django_chat.url + "/socket.io/socket.io.js", timeout=5)
    assert script.status_code == 200
    assert "ETag" in script.headers


def test_chat_through_rooms_over_websocket_and_polling(django_chat):
    chat_through_rooms(django_chat.url)
    # The namespace got the Django HttpRequest (it logs request.META['REMOTE_ADDR']).
    assert "new socket from 127.0.0.1" in django_chat.log()


def test_autodiscover_registers_the_namespace():
    """``autodiscover()`` imports chat/sockets.py, whose decorator fills SOCKETIO_NS."""
    code = (
        "import django; django.setup()\n"
        "from socketio import sdjango\n"
        "assert sdjango.SOCKETIO_NS == {}\n"
        "sdjango.autodiscover()\n"
        "print(sorted((k, v.__module__, v.__name__) for k, v in sdjango.SOCKETIO_NS.items()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=EXAMPLES / "django_chat",
        env={"DJANGO_SETTINGS_MODULE": "chatsite.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert out.stdout.strip() == "[('/chat', 'chat.sockets', 'ChatNamespace')]"


def test_unknown_namespace_is_reported(django_chat):
    from tests.client09.framing import parse
    from tests.client09.websocket import WebSocketClient

    client = WebSocketClient(django_chat.url)
    try:
        client.send("1::/nope")
        error = parse(client.recv())
        assert error["endpoint"] == "/nope"
        assert error["data"]["name"] == "error"
        assert error["data"]["args"][0] == "no_such_namespace"
    finally:
        client.close()


def test_a_path_the_route_takes_but_no_session_is_404_without_a_traceback(django_chat):
    r"""``^socket\.io`` also matches ``/socket.iox``: sdjango's view answers it 404."""
    for path in ("/socket.iox", "/socket.io.js"):
        answer = requests.get(django_chat.url + path, timeout=5)
        assert answer.status_code == 404, path
    assert "Traceback" not in django_chat.log()
