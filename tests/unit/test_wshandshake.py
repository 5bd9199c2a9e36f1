"""The RFC 6455 opening handshake as values, checked with the RFC's own strings."""

from __future__ import annotations

import pytest

from socketio.wshandshake import (
    GUID,
    accept_headers,
    accept_key,
    check_key,
    check_upgrade_request,
    check_version,
)

#: RFC 6455 §1.3: the sample nonce and the accept value it yields
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_accept_key_of_the_rfc_sample():
    assert accept_key(SAMPLE_KEY) == SAMPLE_ACCEPT
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def test_the_101_head_as_values():
    assert accept_headers(SAMPLE_KEY) == [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", SAMPLE_ACCEPT),
    ]
    head = "".join(f"{name}: {value}\r\n" for name, value in accept_headers(SAMPLE_KEY))
    assert head == (
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
        + SAMPLE_ACCEPT
        + "\r\n"
    )


@pytest.mark.parametrize(
    ("method", "upgrade", "expected"),
    [
        ("GET", "websocket", True),
        ("GET", "WebSocket", True),
        ("POST", "websocket", False),
        ("GET", None, False),
        ("GET", "h2c", False),
        (None, "websocket", False),
    ],
)
def test_an_upgrade_request_is_a_get_with_upgrade_websocket(method, upgrade, expected):
    assert check_upgrade_request(method, upgrade) is expected


def test_versions_outside_the_supported_ones_are_refused_naming_them():
    assert check_version("13", ("13", "8", "7")) is None
    refusal = check_version("12", ("13", "8", "7"))
    assert refusal is not None
    assert refusal.status == "400 Bad Request"
    assert refusal.headers == [("Sec-WebSocket-Version", "13, 8, 7")]
    assert refusal.body == b"Unsupported WebSocket Version"
    assert check_version(None, ("13",)) is not None


@pytest.mark.parametrize(
    "key",
    [
        "",
        "dGhlIHNhbXBsZSBub25jZQ",
        "dGhlIHNhbXBsZSBub25j",
        "not base64 at all!!",
        "AAAAAAAAAAAAAAAAAAAAAAA=",
    ],
)
def test_a_key_that_is_not_16_bytes_of_base64_is_refused(key):
    refusal = check_key(key)
    assert refusal is not None
    assert (refusal.status, refusal.headers, refusal.body) == (
        "400 Bad Request",
        [],
        b"Invalid Sec-WebSocket-Key",
    )


def test_a_16_byte_key_is_accepted():
    assert check_key(SAMPLE_KEY) is None
