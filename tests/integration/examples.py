"""Start the programs of ``examples/`` as their READMEs say, on free ports."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
import websocket

from tests.client09.framing import event, parse
from tests.client09.http import wait_http
from tests.client09.polling import PollingClient
from tests.client09.websocket import WebSocketClient

from .conftest import ROOT, free_port

EXAMPLES = ROOT / "examples"


class ExampleServer:
    """One example in a subprocess; ``{port}`` in ``args`` becomes a free port.

    Attributes:
        url: ``http://127.0.0.1:<port>`` (the first port).
        ports: the free ports handed out, in order of ``{port}``, ``{port2}``.
    """

    def __init__(self, directory: str, *args: str, log_dir: pathlib.Path) -> None:
        self.ports = [free_port(), free_port()]
        self.port = self.ports[0]
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable] + [a.format(port=self.ports[0], port2=self.ports[1]) for a in args]
        self.log_path = log_dir / f"{directory}-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            argv, cwd=EXAMPLES / directory, stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            wait_http(self.url + "/", proc=self.proc)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"{directory} did not start:\n{self.log()}") from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


#: how each example is started (from its own directory), as its README says
COMMANDS: dict[str, tuple[str, ...]] = {
    "chat": ("chat.py", "--host", "127.0.0.1", "--port", "{port}"),
    "flask_chat": ("app.py", "--port", "{port}"),
    "django_chat": ("manage.py", "runsocketio", "127.0.0.1:{port}"),
    "pyramid_app": ("-m", "pyramid.scripts.pserve", "development.ini", "http_port={port}"),
    "live_data": ("live.py", "--port", "{port}"),
    "cross_origin": ("serve.py", "--port", "{port}", "--io-port", "{port2}"),
    "gunicorn_chat": ("serve.py", "--port", "{port}"),
}


def start_example(name: str, log_dir: pathlib.Path) -> ExampleServer:
    """Start ``examples/<name>`` with its README's command."""
    return ExampleServer(name, *COMMANDS[name], log_dir=log_dir)


def chat_through_rooms(url: str) -> None:
    """The chat protocol of the chat examples, with real 0.9 clients on two transports.

    ann (websocket) and bob (xhr-polling) share room ``blue``; cid (websocket)
    is in ``green`` and hears nothing of it.
    """
    ann = WebSocketClient(url)
    cid = WebSocketClient(url)
    bob = PollingClient(url, open=False)
    try:
        assert ann.connect("/chat") == "1::/chat"
        assert cid.connect("/chat") == "1::/chat"
        assert bob.packets() == ["1::"]
        bob.send("1::/chat")
        assert bob.packets() == ["1::/chat"]

        assert ann.call("/chat", "nickname", "ann") == ["ann"]
        assert ann.call("/chat", "join", "blue") == ["blue"]
        assert cid.call("/chat", "nickname", "cid") == ["cid"]
        assert cid.call("/chat", "join", "green") == ["green"]
        bob.send(
            event("/chat", "nickname", "bob", msgid=1), event("/chat", "join", "blue", msgid=2)
        )
        assert bob.packets() == ['6::/chat:1+["bob"]', '6::/chat:2+["blue"]']
        assert parse(ann.recv())["data"] == {"name": "announcement", "args": ["bob joined"]}

        assert ann.call("/chat", "say", "hello blue") == [True]
        said = bob.wait_for(lambda raw: raw.startswith("5::/chat:"))
        assert parse(said)["data"] == {"name": "message", "args": ["ann", "hello blue"]}
        bob.send(event("/chat", "say", "hi ann", msgid=3))
        assert parse(ann.recv())["data"] == {"name": "message", "args": ["bob", "hi ann"]}

        assert cid.call("/chat", "say", "anyone in green?") == [True]
        # Rooms keep the conversations apart: cid heard nothing of blue, and
        # nothing of green reaches ann.
        assert cid.received == ["1::/chat"], cid.received
        ann.ws.settimeout(0.3)
        with pytest.raises(websocket.WebSocketTimeoutException):
            ann.ws.recv()
    finally:
        ann.close()
        cid.close()
