"""The demo's page in Chromium: sending works without joining a room first."""

from __future__ import annotations

from typing import Any

import pytest

from .test_examples_browser import WAIT_MS, _lines, _say, _wait_line, browser, example, log_dir

__all__ = ["browser", "example", "log_dir"]  # (fixtures, used by name)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("name", ["chat", "flask_chat"])
def test_sending_before_joining_joins_the_room_in_the_form(browser, example, name):
    url = example(name).url

    def run(chromium: Any) -> tuple[list[str], list[str]]:
        contexts = [chromium.new_context() for _ in range(2)]
        try:
            ann, bob = (context.new_page() for context in contexts)
            for page in (ann, bob):
                page.goto(url + "/")
                page.wait_for_function(
                    "document.getElementById('status').textContent == 'connected'",
                    timeout=WAIT_MS,
                )
            _say(bob, "first")  # neither has joined
            _wait_line(bob, "me: first")
            _say(ann, "hello")
            # (each page gets the line in its own time: wait for both)
            _wait_line(ann, "me: hello")
            _wait_line(bob, "anonymous: hello")
            return _lines(ann), _lines(bob)
        finally:
            for context in contexts:
                context.close()

    ann, bob = browser.run(run)
    assert ann == ["you are anonymous in lobby", "me: hello"]
    assert bob == [
        "you are anonymous in lobby",
        "me: first",
        "anonymous joined",
        "anonymous: hello",
    ]
