"""examples/gunicorn_chat, started as its README says: four workers, a Redis manager, no stickiness.

Polling clients whose every request is a new connection (so it may reach any
worker), owned by every worker, and a websocket client, chat: each message
reaches every client once, whichever worker holds it. Two pages in Chromium,
on xhr-polling and jsonp-polling, chat as people would.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.client09.framing import event, parse
from tests.client09.polling import PollingClient
from tests.client09.waiting import wait_for
from tests.client09.websocket import WebSocketClient

from .examples import ExampleServer, start_example
from .nosticky import Scattered, handshakes, owner_pid
from .test_examples_browser import WAIT_MS, BrowserThread


@pytest.fixture
def gunicorn_chat(tmp_path: pathlib.Path) -> Iterator[ExampleServer]:
    server = start_example("gunicorn_chat", tmp_path)
    try:
        # Up once its four workers listen on the Redis channel.
        url = wait_for(lambda: re.search(r"Redis (redis://\S+)\)", server.log()), 10, "the URL")
        bus = redis.Redis.from_url(url.group(1))
        try:
            wait_for(
                lambda: dict(bus.pubsub_numsub("socketio")).get(b"socketio", 0) == 4,
                20,
                "four workers on the Redis channel",
            )
        finally:
            bus.close()
        yield server
    finally:
        server.stop()


def messages(client: PollingClient, until: str) -> list[list]:
    """The ``message`` events a polling client gets, up to the one saying ``until``."""
    got: list[list] = []
    while not got or got[-1][1] != until:
        for raw in client.packets():
            if raw.startswith("5::/chat:") and parse(raw)["data"]["name"] == "message":
                got.append(parse(raw)["data"]["args"])
    return got


def test_the_gunicorn_chat_reaches_the_clients_of_every_worker_once(
    gunicorn_chat: ExampleServer,
) -> None:
    url = gunicorn_chat.url
    clients: dict[int, PollingClient] = {}
    for _ in range(10):  # a polling client owned by each of the four workers
        for sid in handshakes(url):
            transport = "jsonp-polling" if len(clients) % 2 else "xhr-polling"
            clients.setdefault(owner_pid(sid), Scattered(url, transport, sid=sid))
        if len(clients) == 4:
            break
    assert len(clients) == 4, sorted(clients)
    for n, (pid, client) in enumerate(clients.items()):
        assert client.packets() == ["1::"]
        client.send("1::/chat", event("/chat", "nickname", f"p{n}", msgid=1))
        ack = client.wait_for(lambda raw: raw.startswith("6::"))
        assert ack == f'6::/chat:1+[["p{n}",{pid}]]'  # held by the worker its id names
    ws = WebSocketClient(url)
    try:
        assert ws.connect("/chat") == "1::/chat"
        [[nickname, ws_pid]] = ws.call("/chat", "nickname", "w")
        assert nickname == "w"

        ws.send(event("/chat", "say", "hello"))
        for client in clients.values():  # once each (a copy would come before "bye")
            assert messages(client, "hello") == [["w", "hello", ws_pid]]
        first = next(iter(clients.values()))
        first.send(event("/chat", "say", "bye"))
        for client in clients.values():
            assert messages(client, "bye") == [["p0", "bye", owner_pid(first.sid)]]
        said = []
        while len(said) < 2:
            data = parse(ws.recv())["data"]
            if data["name"] == "message":
                said.append(data["args"])
        assert said == [["w", "hello", ws_pid], ["p0", "bye", owner_pid(first.sid)]]
    finally:
        ws.close()
        for client in clients.values():
            client.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserThread]:
    thread = BrowserThread()
    yield thread
    thread.close()


def test_two_pages_chat_over_polling_through_four_workers(
    gunicorn_chat: ExampleServer, browser: BrowserThread
) -> None:
    def chat(chromium: Any) -> list[list[str]]:
        context = chromium.new_context()
        try:
            pages = []
            for name, transport in (("ann", "xhr-polling"), ("bob", "jsonp-polling")):
                page = context.new_page()
                # (not "load": a JSONP client's handshake is a script tag, which
                # the load event waits for; its status below tells it connected)
                page.goto(
                    f"{gunicorn_chat.url}/?transport={transport}",
                    wait_until="domcontentloaded",
                    timeout=WAIT_MS,
                )
                page.wait_for_selector(
                    f"#status:text('connected over {transport}')", timeout=WAIT_MS
                )
                page.fill("#nickname", name)
                page.click("#join button")
                page.wait_for_selector(f"body[data-joined='{name}']", timeout=WAIT_MS)
                pages.append(page)
            ann, bob = pages
            for page, text in ((ann, "hello bob"), (bob, "hi ann")):
                page.fill("#text", text)
                page.click("#say")
                for reader in pages:
                    reader.wait_for_function(
                        "t => document.querySelector('#lines').textContent.includes(t)",
                        arg=text,
                        timeout=WAIT_MS,
                    )
            return [page.locator("#lines p:not(.announcement)").all_inner_texts() for page in pages]
        finally:
            context.close()

    seen = browser.run(chat)
    for lines in seen:  # each message once, in order, with the worker that holds its sender
        assert [re.sub(r" \(worker \d+\)$", "", line) for line in lines] == [
            "ann: hello bob",
            "bob: hi ann",
        ], lines
