"""JSONP and htmlfile output evaluated by a real JavaScript engine (node).

``tests/js/evaljs.js`` runs our script text with the globals the 0.9.16
client's transports set up (``io.j[i]`` for jsonp-polling, ``_`` for
htmlfile) stubbed to record what they receive; the callback must get exactly
the payload, whatever it holds. It also builds jsonp-polling POST bodies as
the client does, for ``decode_jsonp_form``.
"""

from __future__ import annotations

import re

import pytest

from socketio.packet import encode
from socketio.payload import (
    FRAME,
    decode_jsonp_form,
    encode_payload,
    htmlfile_chunk,
    htmlfile_preamble,
    jsonp_error,
    jsonp_payload,
    jsonp_wrap,
)

pytestmark = pytest.mark.node

TRICKY = [
    "",
    "1::",
    "8::",
    "quotes \" and ' and `backticks` ${x}",
    "backslash \\ \\\\ \\n \\u2028 \\x41 end\\",
    "newlines \n \r\n \r tabs \t nul \x00 \x1f \x7f",
    "separators \u2028 and \u2029 inside",
    "</script><script>alert(1)</script>",
    "</SCRIPT> <!-- comment --> <![CDATA[ ]]> & &amp; <b>",
    "emoji 😀🎉 𝄞 \U0010fffd",
    f"replacement {FRAME} char {FRAME}{FRAME}",
    "ünïcödé 中文 Ω \u00a0 \ufeff bom",
    "\u200b\u200e\u202e rtl",
    "'); alert(1); //",
    '"); alert(1); //',
    "*/ /* // -->",
    "a" * 5000,
    encode_payload(
        [
            encode({"type": "event", "name": "say", "args": ['"</script>\u2028😀']}),
            encode({"type": "message", "data": f"{FRAME}3{FRAME}x\n\\"}),
            encode({"type": "ack", "ackId": 2, "args": ["a+b:c"]}),
        ]
    ),
]
INDEXES = [0, 1, 7, 42, 123456789]


@pytest.fixture(scope="module")
def evaljs(run_node):
    def run(jobs):
        results = run_node("evaljs.js", {"jobs": jobs})["results"]
        assert len(results) == len(jobs)
        return results

    return run


def test_jsonp_wrap_delivers_exact_payload(evaljs):
    cases = [(INDEXES[k % len(INDEXES)], text) for k, text in enumerate(TRICKY)]
    jobs = [{"kind": "jsonp", "index": i, "code": jsonp_wrap(i, text)} for i, text in cases]
    for (_, text), result in zip(cases, evaljs(jobs), strict=True):
        assert result == {"calls": [text]}, text[:60]


def test_jsonp_payload_delivers_the_framed_body(evaljs):
    """Frame markers written as the character still give the exact framed body."""
    batches = [TRICKY[k : k + n] for n in (1, 2, 3) for k in range(0, len(TRICKY) - n + 1, n)]
    jobs = [{"kind": "jsonp", "index": 3, "code": jsonp_payload(3, b)} for b in batches]
    for batch, result in zip(batches, evaljs(jobs), strict=True):
        assert result == {"calls": [encode_payload(batch)]}, batch[0][:60]


def test_jsonp_error_delivers_an_error(evaljs):
    messages = ["handshake unauthorized", "handshake bad origin", 'odd "</script>\u2028 😀']
    jobs = [{"kind": "jsonp", "index": 5, "code": jsonp_error(5, m)} for m in messages]
    for message, result in zip(messages, evaljs(jobs), strict=True):
        assert result == {"calls": [{"$error": message}]}


def script_bodies(html: str) -> list[str]:
    """The text of each script element, cut where an HTML parser would cut it.

    That is at the first ``</script`` (any case) after ``<script>``.
    """
    bodies = []
    pos = 0
    while True:
        start = html.find("<script>", pos)
        if start < 0:
            return bodies
        start += len("<script>")
        end = re.compile("</script", re.IGNORECASE).search(html, start)
        assert end is not None, html
        bodies.append(html[start : end.start()])
        pos = end.end()


def test_htmlfile_chunk_delivers_exact_payload(evaljs):
    chunks = [htmlfile_chunk(text) for text in TRICKY]
    jobs = []
    for chunk in chunks:
        bodies = script_bodies(chunk)
        # One script element that runs to the very end of the chunk: nothing in
        # the payload closed it early or opened a comment.
        assert len(bodies) == 1
        assert chunk == f"<script>{bodies[0]}</script>"
        assert "<!--" not in bodies[0]
        jobs.append({"kind": "htmlfile", "code": bodies[0]})
    for text, result in zip(TRICKY, evaljs(jobs), strict=True):
        assert result == {"calls": [text]}, text[:60]


def test_htmlfile_preamble_defines_the_callback(evaljs):
    pre = htmlfile_preamble()
    (body,) = script_bodies(pre)
    probe = 'probe "</script>" 😀'
    (result,) = evaljs([{"kind": "preamble", "code": body, "probe": probe}])
    assert result == {"calls": [probe]}


def test_jsonp_form_posted_by_client(evaljs):
    # The body the client's jsonp-polling transport posts (d = JSON.stringify(payload),
    # urlencoded as a browser submits the form) decodes back to the payload.
    results = evaljs([{"kind": "form", "payload": text} for text in TRICKY])
    for text, result in zip(TRICKY, results, strict=True):
        body = result["body"]
        assert body.startswith("d=")
        assert decode_jsonp_form(body) == text, text[:60]
