"""The examples driven end to end in headless Chromium, as a person would use them.

The chat demo and the Flask and Django chats: three pages, two in one room and
one in another, chat through rooms. The live data page plots what the server
streams; the cross-origin page talks to a Socket.IO server on another port.
"""

from __future__ import annotations

import concurrent.futures
import pathlib
import queue
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests

from .conftest import CHROMIUM, CHROMIUM_ARGS
from .examples import ExampleServer, start_example

pytestmark = pytest.mark.browser

WAIT_MS = 10_000


class BrowserThread:
    """Headless Chromium driven from a thread of its own.

    Playwright's sync API refuses to start while another Playwright instance
    is active in the same thread (another module may keep one for the whole
    session), so this one lives in its own thread; :meth:`run` executes a
    function there with the browser and returns its result or raises its error.
    """

    def __init__(self) -> None:
        self._calls: queue.Queue = queue.Queue()
        self._ready: concurrent.futures.Future = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._main, name="chromium", daemon=True)
        self._thread.start()
        self._ready.result(timeout=60)

    def _main(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                self._ready.set_result(None)
                while True:
                    call = self._calls.get()
                    if call is None:
                        break
                    fn, future = call
                    try:
                        future.set_result(fn(browser))
                    except BaseException as exc:
                        future.set_exception(exc)
                browser.close()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def run(self, fn: Callable[[Any], Any], timeout: float = 60) -> Any:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._calls.put((fn, future))
        return future.result(timeout=timeout)

    def close(self) -> None:
        self._calls.put(None)
        self._thread.join(30)


@pytest.fixture(scope="module")
def browser():
    if not pathlib.Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: ./run test installs it (apt-get install chromium)")
    thread = BrowserThread()
    yield thread
    thread.close()


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


def _say(page, text: str) -> None:
    page.fill("#text", text)
    page.click("#say")


def _wait_line(page, text: str) -> None:
    page.wait_for_function(
        "text => document.querySelector('#lines').textContent.includes(text)",
        arg=text,
        timeout=WAIT_MS,
    )


def _chat_through_rooms(browser: Any, url: str) -> None:
    contexts = [browser.new_context() for _ in range(3)]
    try:
        ann, bob, cid = (context.new_page() for context in contexts)
        _join(ann, url, "ann", "blue")
        _join(bob, url, "bob", "blue")
        _join(cid, url, "cid", "green")
        _wait_line(ann, "bob joined")

        _say(ann, "hello blue")
        _wait_line(bob, "ann: hello blue")
        _wait_line(ann, "me: hello blue")
        _say(bob, "hi ann")
        _wait_line(ann, "bob: hi ann")
        _say(cid, "anyone in green?")
        _wait_line(cid, "me: anyone in green?")
        # The rooms kept the conversations apart.
        assert not any("green" in line for line in _lines(ann) + _lines(bob))
        assert not any("blue" in line or "ann" in line for line in _lines(cid)[1:])
        assert ann.locator("#status").inner_text() == "connected"
    finally:
        for context in contexts:
            context.close()


@pytest.mark.parametrize("name", ["chat", "flask_chat", "django_chat"])
def test_pages_chat_through_rooms(browser, example, name):
    server = example(name)
    browser.run(lambda b: _chat_through_rooms(b, server.url))


def _plot(browser: Any, url: str) -> None:
    page = browser.new_page()
    try:
        page.goto(url + "/")
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


def test_live_data_is_plotted(browser, example):
    server = example("live_data")
    browser.run(lambda b: _plot(b, server.url))


@pytest.mark.parametrize("transport", ["websocket", "xhr-polling"])
def test_cross_origin_page(browser, example, transport):
    server = example("cross_origin")
    page_url = server.url
    io_url = f"http://127.0.0.1:{server.ports[1]}"

    def visit(b: Any) -> str:
        page = b.new_page()
        try:
            page.goto(f"{page_url}/?transport={transport}")
            page.wait_for_selector("body[data-rtt]", timeout=WAIT_MS)
            return page.get_attribute("body", "data-transport")
        finally:
            page.close()

    assert browser.run(visit) == transport
    # Another origin is refused, and gets no CORS headers.
    refused = requests.get(
        io_url + "/socket.io/1/", headers={"Origin": "http://evil.example:8082"}, timeout=5
    )
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    allowed = requests.get(io_url + "/socket.io/1/", headers={"Origin": page_url}, timeout=5)
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == page_url
