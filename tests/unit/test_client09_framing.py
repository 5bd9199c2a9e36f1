"""The tests' wire client frames payloads as the protocol does: lengths in UTF-16 units."""

from __future__ import annotations

import pytest

from socketio import payload
from tests.client09.framing import FRAME, frame, unframe, utf16_len


@pytest.mark.parametrize(
    ("text", "units"),
    [("", 0), ("3:::hi", 6), ("é", 1), ("\u20ac", 1), ("\U0001f600", 2), ("a\U0001f600b", 4)],
)
def test_lengths_are_javascript_string_lengths(text: str, units: int) -> None:
    assert utf16_len(text) == units


def test_a_character_outside_the_bmp_counts_two() -> None:
    assert frame("3:::\U0001f600") == f"{FRAME}6{FRAME}3:::\U0001f600"


@pytest.mark.parametrize(
    "packets",
    [["3:::a", "3:::b"], ["3:::\U0001f600", "3:::é\U0001f4a9x", "5:::{}"]],
)
def test_the_client_and_the_server_agree(packets: list[str]) -> None:
    assert frame(*packets) == payload.encode_payload(packets)
    assert unframe(payload.encode_payload(packets)) == packets
    assert payload.decode_payload(frame(*packets)) == packets


def test_a_bare_body_is_one_packet() -> None:
    assert unframe("1::") == ["1::"]
