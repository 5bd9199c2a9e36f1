"""The examples driven end to end in headless Chromium, as a person would use them.

The chat demo and the Flask and Django chats: three pages, two in one room and
one in another, chat through rooms. The live data page plots what the server
streams; the cross-origin page talks to a Socket.IO server on another port.
"""

from __future__ import annotations

import pathlib

import pytest
import requests

from .examples import ExampleServer, start_example

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 10_000


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not pathlib.Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: ./run test installs it (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("examples")


@pytest.fixture
def example(log_dir):
    servers: list[ExampleServer] = []

    def start(name: str) -> ExampleServer:
        server = start_example(name, log_dir)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _join(page, url: str, nickname: str, room: str) -> None:
    page.goto(url + "/")
    page.fill("#nickname", nickname)
    page.fill("#room", room)
    page.click("#join button")
    page.wait_for_selector(f"body[data-joined='{room}']", timeout=WAIT_MS)


def _lines(page) -> list[str]:
    return page.locator("#lines p").all_inner_texts()


@pytest.mark.parametrize("name", ["chat", "flask_chat", "django_chat"])
def test_pages_chat_through_rooms(browser, example, name):
    server = example(name)
    contexts = [browser.new_context() for _ in range(3)]
    try:
        ann, bob, cid = (context.new_page() for context in contexts)
        _join(ann, server.url, "ann", "blue")
        _join(bob, server.url, "bob", "blue")
        _join(cid, server.url, "cid", "green")
        ann.wait_for_function(
            "document.querySelector('#lines').textContent.includes('bob joined')", timeout=WAIT_MS
        )

        ann.fill("#text", "hello blue")
        ann.click("#say")
        bob.wait_for_function(
            "document.querySelector('#lines').textContent.includes('ann: hello blue')",
            timeout=WAIT_MS,
        )
        ann.wait_for_function(
            "document.querySelector('#lines').textContent.includes('me: hello blue')",
            timeout=WAIT_MS,
        )
        bob.fill("#text", "hi ann")
        bob.click("#say")
        ann.wait_for_function(
            "document.querySelector('#lines').textContent.includes('bob: hi ann')", timeout=WAIT_MS
        )
        cid.fill("#text", "anyone in green?")
        cid.click("#say")
        cid.wait_for_function(
            "document.querySelector('#lines').textContent.includes('me: anyone in green?')",
            timeout=WAIT_MS,
        )
        # The rooms kept the conversations apart.
        assert not any("green" in line for line in _lines(ann) + _lines(bob))
        assert not any("blue" in line or "ann" in line for line in _lines(cid)[1:])
        assert ann.locator("#status").inner_text() == "connected"
    finally:
        for context in contexts:
            context.close()


def test_live_data_is_plotted(browser, example):
    server = example("live_data")
    page = browser.new_page()
    try:
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-points]", timeout=WAIT_MS)
        page.wait_for_function("Number(document.body.dataset.points) >= 15", timeout=WAIT_MS)
        # Something was drawn: the canvas has painted pixels.
        painted = page.evaluate(
            """() => {
                const c = document.getElementById('plot');
                const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
                return n;
            }"""
        )
        assert painted > 100, painted
        # The page can change the rate; the server acknowledges the new value.
        page.fill("#rate", "40")
        page.dispatch_event("#rate", "change")
        page.wait_for_function("document.getElementById('rate').value === '40'")
    finally:
        page.close()


@pytest.mark.parametrize("transport", ["websocket", "xhr-polling"])
def test_cross_origin_page(browser, example, transport):
    server = example("cross_origin")
    page_url = server.url
    io_url = f"http://127.0.0.1:{server.ports[1]}"
    page = browser.new_page()
    try:
        page.goto(f"{page_url}/?transport={transport}")
        page.wait_for_selector("body[data-rtt]", timeout=WAIT_MS)
        assert page.get_attribute("body", "data-transport") == transport
    finally:
        page.close()
    # Another origin is refused, and gets no CORS headers.
    refused = requests.get(
        io_url + "/socket.io/1/", headers={"Origin": "http://evil.example:8082"}, timeout=5
    )
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    allowed = requests.get(io_url + "/socket.io/1/", headers={"Origin": page_url}, timeout=5)
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == page_url
