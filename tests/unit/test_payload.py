"""socketio.payload: framing of polling bodies, JSONP and htmlfile output."""

from __future__ import annotations

import json
from urllib.parse import quote_plus, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketio import payload
from socketio.exceptions import PayloadError, ProtocolError
from socketio.payload import (
    FRAME,
    decode_jsonp_form,
    decode_payload,
    encode_payload,
    htmlfile_chunk,
    htmlfile_preamble,
    js_length,
    js_string,
    jsonp_error,
    jsonp_payload,
    jsonp_wrap,
    multipart_part,
)

F = "\ufffd"


def test_frame_marker():
    assert FRAME == F


@pytest.mark.parametrize(
    ("packets", "body"),
    [
        ([], ""),
        (["2::"], "2::"),
        (["1::", "2::"], f"{F}3{F}1::{F}3{F}2::"),
        (["3:::hello", '5:::{"name":"x"}'], f'{F}9{F}3:::hello{F}16{F}5:::{{"name":"x"}}'),
        (["3:::é", "3:::😀"], f"{F}5{F}3:::é{F}6{F}3:::😀"),
        (["3:::😀😀", ""], f"{F}8{F}3:::😀😀{F}0{F}"),
        ([f"3:::{F}9{F}", "8::"], f"{F}7{F}3:::{F}9{F}{F}3{F}8::"),
        (["3:::" + "x" * 96, "2::"], f"{F}100{F}3:::{'x' * 96}{F}3{F}2::"),
    ],
)
def test_encode_decode_literal(packets, body):
    assert encode_payload(packets) == body
    if len(packets) != 1 or packets[0]:
        assert decode_payload(body) == packets


def test_lengths_are_utf16_code_units():
    assert js_length("") == 0
    assert js_length("abc") == 3
    assert js_length("é中\ufffd") == 3
    assert js_length("😀") == 2
    assert js_length("a😀b𝄞") == 6
    body = encode_payload(["3:::😀", "3:::x"])
    assert body.startswith(f"{F}6{F}")


def test_bare_single_packet_accepted():
    assert decode_payload("3:::hello") == ["3:::hello"]
    # A bare packet may contain the frame marker; only a leading one means framing.
    assert decode_payload(f"3:::a{F}1{F}b") == [f"3:::a{F}1{F}b"]


def test_empty_body():
    assert decode_payload("") == []
    assert encode_payload([]) == ""


def test_data_containing_frame_marker():
    packets = [f"3:::{F}", f"3:::{F}{F}{F}12{F}", f'5:::{{"args":["{F}"],"name":"{F}"}}']
    body = encode_payload(packets)
    assert decode_payload(body) == packets


def test_separate_surrogate_code_points_are_kept():
    # A str may hold the two halves of a pair as separate code points; each
    # counts one unit and both must come back unchanged (not merged into one).
    packets = ["3:::😀\ud83d\ude00", "3:::\udbff", "3:::x"]
    body = encode_payload(packets)
    assert body.startswith(f"{F}8{F}")
    assert decode_payload(body) == packets


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (F, "Missing frame length"),
        (f"{F}{F}2::", "Missing frame length"),
        (f"{F}x{F}2::", "Missing frame length"),
        (f"{F}-3{F}2::", "Missing frame length"),
        (f"{F}3", "not closed"),
        (f"{F}3x{F}2::", "not closed"),
        (f"{F}12345678901{F}2::", "not closed"),
        (f"{F}4{F}2::", "past the end"),
        (f"{F}3{F}2::{F}9{F}2::", "past the end"),
        (f"{F}3{F}2::x", "Expected a frame marker"),
        (f"{F}3{F}2::{F}", "Missing frame length"),
        (f"{F}5{F}3:::😀", "splits a surrogate pair"),
        (f"{F}7{F}3:::😀", "past the end"),
        (f"{F}5{F}3:::😀{F}1{F}x", "splits a surrogate pair"),
    ],
)
def test_malformed_framing(body, message):
    with pytest.raises(PayloadError, match=message) as info:
        decode_payload(body)
    assert info.value.message == str(info.value)
    assert isinstance(info.value, ProtocolError)
    assert isinstance(info.value, ValueError)


def test_max_packets():
    body = encode_payload(["2::"] * 5)
    assert decode_payload(body, max_packets=5) == ["2::"] * 5
    with pytest.raises(PayloadError, match="more than 4 packets") as info:
        decode_payload(body, max_packets=4)
    assert info.value.status_hint == 413


# -- JSONP and htmlfile -------------------------------------------------------


def test_js_string():
    assert js_string("abc") == '"abc"'
    assert js_string('a"b\\c\n') == '"a\\"b\\\\c\\n"'
    assert js_string("</script><!--&") == '"\\u003c/script\\u003e\\u003c!--\\u0026"'
    assert js_string("\u2028\u2029") == '"\\u2028\\u2029"'
    assert js_string("é😀") == '"\\u00e9\\ud83d\\ude00"'
    assert js_string(F) == '"\\ufffd"'
    assert js_string("\udc00") == '"\\udc00"'
    assert js_string("\x00\x1f") == '"\\u0000\\u001f"'
    assert js_string("x" * 10).isascii()


def test_jsonp_wrap_and_error():
    assert jsonp_wrap(0, "1::") == 'io.j[0]("1::");'
    # quoted whole, markers and all
    assert jsonp_wrap(0, f"3:::{F}") == 'io.j[0]("3:::\\ufffd");'
    assert jsonp_wrap(0, f"{F}9{F}3:::") == 'io.j[0]("\\ufffd9\\ufffd3:::");'
    assert jsonp_wrap("7", "x") == 'io.j[7]("x");'
    assert (
        jsonp_error(3, "handshake unauthorized") == 'io.j[3](new Error("handshake unauthorized"));'
    )
    assert jsonp_error(0, 'bad "origin"</script>') == (
        'io.j[0](new Error("bad \\"origin\\"\\u003c/script\\u003e"));'
    )


def test_jsonp_payload():
    # one packet travels bare, as in encode_payload
    assert jsonp_payload(0, ["1::"]) == 'io.j[0]("1::");'
    # frame markers as the character itself (as the reference server writes
    # them), the packets between them quoted as js_string does
    assert jsonp_payload(12, ["2::", '3:::"</a>']) == (
        f'io.j[12]("{F}3{F}2::{F}9{F}3:::\\"\\u003c/a\\u003e");'
    )
    # a marker inside a packet's data stays escaped; lengths count UTF-16 units
    assert jsonp_payload(0, [f"3:::{F}", "3:::😀é"]) == (
        f'io.j[0]("{F}5{F}3:::\\ufffd{F}7{F}3:::\\ud83d\\ude00\\u00e9");'
    )


def client_form(payload_text: str) -> str:
    """The body the 0.9 jsonp-polling transport posts: field d = JSON.stringify(payload)."""
    return urlencode({"d": json.dumps(payload_text, ensure_ascii=False)})


@pytest.mark.parametrize(
    "text",
    [
        "2::",
        f"{F}3{F}2::{F}9{F}3:::hello",
        '5:::{"args":["a+b & c=d"],"name":"x y"}',
        "3:::line\nbreak\r\ttab",
        "3:::ünï 😀 \u2028 \\ \"q\" '%2B'",
        "",
    ],
)
def test_decode_jsonp_form(text):
    assert decode_jsonp_form(client_form(text)) == text


def test_decode_jsonp_form_details():
    # '+' is a space in form encoding, %2B a plus.
    assert decode_jsonp_form('d="3:::a+b%2Bc"') == "3:::a b+c"
    # Other fields are ignored; a raw (non-JSON) value is taken as is.
    assert decode_jsonp_form("x=1&d=2::&y=2") == "2::"
    assert decode_jsonp_form("d=" + quote_plus('"\\u00e9"')) == "é"
    with pytest.raises(PayloadError, match="no 'd' field"):
        decode_jsonp_form("x=1")
    with pytest.raises(PayloadError, match="no 'd' field"):
        decode_jsonp_form("")
    with pytest.raises(PayloadError, match="not a JSON string"):
        decode_jsonp_form('d="unterminated')
    with pytest.raises(PayloadError, match="not a JSON string"):
        decode_jsonp_form('d="a"1')


def test_htmlfile():
    pre = htmlfile_preamble()
    assert pre.startswith(
        "<html><body><script>var _ = function (msg) { parent.s._(msg, document); };</script>"
    )
    assert len(pre.encode()) >= 256
    assert pre.rstrip(" ").endswith("</script>")
    assert htmlfile_chunk("2::") == '<script>_("2::");</script>'
    chunk = htmlfile_chunk('3:::</script><script>alert("x")</script>')
    assert chunk.count("</script>") == 1
    assert chunk.endswith("</script>")
    assert (
        chunk
        == '<script>_("3:::\\u003c/script\\u003e\\u003cscript\\u003ealert(\\"x\\")\\u003c/script\\u003e");</script>'
    )


def test_multipart_part():
    assert payload.MULTIPART_BOUNDARY == "socketio"
    assert (
        multipart_part("1::")
        == "Content-Type: text/plain; charset=UTF-8\r\n\r\n1::\r\n--socketio\r\n"
    )


# -- properties ---------------------------------------------------------------

FAST = settings(max_examples=300, deadline=None)


@FAST
@given(st.lists(st.text(), min_size=2, max_size=6))
def test_property_payload_roundtrip(packets):
    assert decode_payload(encode_payload(packets)) == packets


@FAST
@given(
    st.lists(
        st.text(alphabet=st.sampled_from(["a", F, "😀", "1", "\ud83d", "\ude00"])),
        min_size=2,
        max_size=6,
    )
)
def test_property_payload_roundtrip_tricky_alphabet(packets):
    assert decode_payload(encode_payload(packets)) == packets


@FAST
@given(st.text(min_size=1).filter(lambda s: not s.startswith(F)))
def test_property_single_bare_packet(text):
    assert decode_payload(encode_payload([text])) == [text]


@FAST
@given(
    st.text()
    | st.text().map(lambda s: F + s)
    | st.text(alphabet=st.sampled_from([F, "1", "2", "😀", "x"]))
)
def test_property_decode_arbitrary_body(body):
    try:
        packets = decode_payload(body)
    except PayloadError:
        return
    assert isinstance(packets, list)
    assert all(isinstance(p, str) for p in packets)
    if body.startswith(F):
        # Framing the packets again gives a body that decodes to them, and that
        # is no longer than the original (leading zeros in a length are the
        # only other way to spell the same frames).
        reframed = "".join(f"{F}{js_length(p)}{F}{p}" for p in packets)
        assert decode_payload(reframed) == packets
        assert len(reframed) <= len(body)
    else:
        assert packets == ([body] if body else [])


@FAST
@given(st.lists(st.text(), min_size=1, max_size=4))
def test_property_jsonp_payload_gives_the_body_back(packets):
    body = encode_payload(packets)
    out = jsonp_payload(3, packets)
    assert out.startswith("io.j[3](")
    assert out.endswith(");")
    literal = out[len("io.j[3](") : -2]
    assert json.loads(literal) == body
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in out
    # only frame markers are left unescaped
    assert literal.replace(F, "").isascii()
    if len(packets) > 1:
        assert literal.count(F) == 2 * len(packets)


@FAST
@given(st.text())
def test_property_js_string_is_json(text):
    out = js_string(text)
    assert json.loads(out) == text
    assert out.isascii()
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in out
