"""The log outlet for client mistakes: escaped, clipped, rate limited per kind."""

from __future__ import annotations

import logging

from socketio.peerlog import PeerLog, clip


def test_clip_escapes_line_breaks_and_control_characters():
    assert clip("a\nb\r\x1b[31m\u2028") == "a\\nb\\r\\x1b[31m\\u2028"
    assert "\n" not in clip("x\n" * 10)


def test_clip_keeps_a_prefix_and_counts_the_rest():
    assert clip("x" * 100_000, 10) == "x" * 10 + "...(+99990)"
    assert clip(b"ab\n", 10) == "ab\\n"
    assert clip(12) == "12"


def test_one_line_per_kind_per_interval_then_the_count(caplog):
    logger = logging.getLogger("test.peerlog")
    peer_log = PeerLog(logger, interval=3600)
    with caplog.at_level(logging.INFO, logger="test.peerlog"):
        assert peer_log("bad", "bad thing %s", "a\nb")
        for _ in range(5):
            assert not peer_log("bad", "bad thing %s", "c")
        assert peer_log("other", "other thing")
        peer_log._kinds["bad"][0] -= 3600  # the interval is over
        assert peer_log("bad", "bad thing %s", "d")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["bad thing a\\nb", "other thing", "bad thing d (5 more like it not logged)"]


def test_nothing_is_counted_below_the_level(caplog):
    logger = logging.getLogger("test.peerlog.quiet")
    logger.setLevel(logging.WARNING)
    peer_log = PeerLog(logger)
    assert not peer_log("bad", "x")
    assert peer_log._kinds == {}
