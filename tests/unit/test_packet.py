"""socketio.packet: literal wire strings both ways, errors, and round-trip properties."""

from __future__ import annotations

import decimal
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socketio import packet
from socketio.exceptions import PacketError, ProtocolError, SocketIOError
from socketio.packet import decode, encode

# (wire, dict) pairs that are exact both ways: decode(wire) == dict and encode(dict) == wire.
EXACT = [
    # 0 disconnect
    ("0::", {"type": "disconnect", "endpoint": ""}),
    ("0::/chat", {"type": "disconnect", "endpoint": "/chat"}),
    # 1 connect
    ("1::", {"type": "connect", "endpoint": "", "qs": ""}),
    ("1::/chat", {"type": "connect", "endpoint": "/chat", "qs": ""}),
    ("1::/chat:?token=abc", {"type": "connect", "endpoint": "/chat", "qs": "?token=abc"}),
    ("1::/chat:?a=1&b=x:y", {"type": "connect", "endpoint": "/chat", "qs": "?a=1&b=x:y"}),
    # 2 heartbeat
    ("2::", {"type": "heartbeat", "endpoint": ""}),
    # 3 message
    ("3:::hello", {"type": "message", "endpoint": "", "data": "hello"}),
    ("3:1::hello", {"type": "message", "endpoint": "", "id": 1, "ack": True, "data": "hello"}),
    ("3::/chat:a:b::c", {"type": "message", "endpoint": "/chat", "data": "a:b::c"}),
    ("3::::starts with colon", {"type": "message", "endpoint": "", "data": ":starts with colon"}),
    ("3::", {"type": "message", "endpoint": "", "data": ""}),
    ("3:::ünïcödé 😀 \ufffd", {"type": "message", "endpoint": "", "data": "ünïcödé 😀 \ufffd"}),
    ("3:::line\nbreak", {"type": "message", "endpoint": "", "data": "line\nbreak"}),
    # 4 json
    ('4:1+::{"a":1}', {"type": "json", "endpoint": "", "id": 1, "ack": "data", "data": {"a": 1}}),
    (
        '4::/chat:["x",null,true,1.5]',
        {"type": "json", "endpoint": "/chat", "data": ["x", None, True, 1.5]},
    ),
    ("4:::null", {"type": "json", "endpoint": "", "data": None}),
    ('4:::"a:b"', {"type": "json", "endpoint": "", "data": "a:b"}),
    # 5 event
    (
        '5:2+:/chat:{"args":["hi"],"name":"say"}',
        {
            "type": "event",
            "endpoint": "/chat",
            "id": 2,
            "ack": "data",
            "name": "say",
            "args": ["hi"],
        },
    ),
    ('5:::{"name":"ping"}', {"type": "event", "endpoint": "", "name": "ping", "args": []}),
    (
        '5:7::{"args":[1,{"k":"v"},[2]],"name":"multi"}',
        {
            "type": "event",
            "endpoint": "",
            "id": 7,
            "ack": True,
            "name": "multi",
            "args": [1, {"k": "v"}, [2]],
        },
    ),
    (
        '5:::{"args":["a:b+c"],"name":"with space"}',
        {"type": "event", "endpoint": "", "name": "with space", "args": ["a:b+c"]},
    ),
    # 6 ack
    ("6:::2", {"type": "ack", "endpoint": "", "ackId": 2, "args": []}),
    ('6:::2+["result"]', {"type": "ack", "endpoint": "", "ackId": 2, "args": ["result"]}),
    ('6:::2+["a+b:c"]', {"type": "ack", "endpoint": "", "ackId": 2, "args": ["a+b:c"]}),
    ('6::/chat:4+["ok",1]', {"type": "ack", "endpoint": "/chat", "ackId": 4, "args": ["ok", 1]}),
    ('6:::12+[{"+":":"}]', {"type": "ack", "endpoint": "", "ackId": 12, "args": [{"+": ":"}]}),
    # 7 error
    (
        "7::/chat:2+0",
        {"type": "error", "endpoint": "/chat", "reason": "unauthorized", "advice": "reconnect"},
    ),
    (
        "7:::1+0",
        {"type": "error", "endpoint": "", "reason": "client not handshaken", "advice": "reconnect"},
    ),
    ("7:::+0", {"type": "error", "endpoint": "", "reason": "", "advice": "reconnect"}),
    ("7:::0", {"type": "error", "endpoint": "", "reason": "transport not supported", "advice": ""}),
    ("7::/chat:2", {"type": "error", "endpoint": "/chat", "reason": "unauthorized", "advice": ""}),
    # an error always carries its data field, as the original wrote it ('7::' decodes the same)
    ("7:::", {"type": "error", "endpoint": "", "reason": "", "advice": ""}),
    ("7::/chat:", {"type": "error", "endpoint": "/chat", "reason": "", "advice": ""}),
    # 8 noop
    ("8::", {"type": "noop", "endpoint": ""}),
]


@pytest.mark.parametrize(("wire", "pkt"), EXACT, ids=[w for w, _ in EXACT])
def test_decode_literal(wire, pkt):
    assert decode(wire) == pkt


@pytest.mark.parametrize(("wire", "pkt"), EXACT, ids=[w for w, _ in EXACT])
def test_encode_literal(wire, pkt):
    assert encode(pkt) == wire


def test_every_type_is_covered():
    assert {p["type"] for _, p in EXACT} == set(packet.MSG_TYPES)


def test_decoded_ids_are_ints_and_ack_flags():
    assert decode("5:12::")["id"] == 12
    assert decode("5:12::")["ack"] is True
    assert decode("5:12+::")["ack"] == "data"
    assert "id" not in decode("5:::")
    assert "ack" not in decode("5:::")
    assert decode("6:::31")["ackId"] == 31
    assert decode("7::") == decode("7:::")
    assert decode("7::/chat") == decode("7::/chat:")


@pytest.mark.parametrize(
    ("pkt", "wire"),
    [
        ({"type": "event", "name": "x", "args": []}, '5:::{"name":"x"}'),
        ({"type": "event", "name": "x"}, '5:::{"name":"x"}'),
        ({"type": "ack", "ackId": 3, "args": []}, "6:::3"),
        ({"type": "ack", "ackId": 3}, "6:::3"),
        ({"type": "connect", "endpoint": "/a", "qs": ""}, "1::/a"),
        ({"type": "connect"}, "1::"),
        ({"type": "message", "data": ""}, "3::"),
        ({"type": "message"}, "3::"),
        ({"type": "heartbeat", "endpoint": None}, "2::"),
        ({"type": "error", "reason": "unauthorized"}, "7:::2"),
        ({"type": "error", "advice": "reconnect"}, "7:::+0"),
        ({"type": "disconnect", "endpoint": "/chat"}, "0::/chat"),
        # 'ack' omitted or True: a plain id; 'data': id with '+'.
        ({"type": "message", "id": 5, "data": "x"}, "3:5::x"),
        ({"type": "message", "id": "5", "ack": True, "data": "x"}, "3:5::x"),
        ({"type": "message", "id": 5, "ack": "data", "data": "x"}, "3:5+::x"),
        ({"type": "message", "id": 0, "data": "x"}, "3:0::x"),
        ({"type": "message", "id": None, "ack": "data", "data": "x"}, "3:::x"),
        ({"type": "ack", "ackId": "9", "args": ("t",)}, '6:::9+["t"]'),
    ],
)
def test_encode_defaults_and_omissions(pkt, wire):
    assert encode(pkt) == wire


def test_encode_json_is_sorted_and_compact():
    pkt = {"type": "json", "data": {"b": [1, 2], "a": {"d": 1, "c": None}}}
    assert encode(pkt) == '4:::{"a":{"c":null,"d":1},"b":[1,2]}'
    event = {"type": "event", "name": "n", "args": [{"z": 1, "y": 2}]}
    assert encode(event) == '5:::{"args":[{"y":2,"z":1}],"name":"n"}'


def test_encode_decimal_as_number():
    pkt = {"type": "json", "data": [decimal.Decimal("10"), decimal.Decimal("1.5")]}
    assert encode(pkt) == "4:::[10,1.5]"
    big = {"type": "ack", "ackId": 1, "args": [decimal.Decimal("12345678901234567890")]}
    assert encode(big) == "6:::1+[12345678901234567890]"


def test_encode_escapes_non_ascii_in_json():
    # The default JSON writer escapes non-ASCII (json's ensure_ascii): the wire
    # stays ASCII, U+2028/U+2029 and astral characters included.
    pkt = {"type": "ack", "ackId": 1, "args": ["é\u2028😀"]}
    assert encode(pkt) == '6:::1+["\\u00e9\\u2028\\ud83d\\ude00"]'
    assert decode(encode(pkt)) == {"type": "ack", "endpoint": "", "ackId": 1, "args": ["é\u2028😀"]}


def test_custom_json_functions_are_used():
    calls = []

    def dumps(value):
        calls.append(value)
        return json.dumps(value, separators=(", ", ": "))

    assert encode({"type": "json", "data": {"a": 1}}, json_dumps=dumps) == '4:::{"a": 1}'
    assert decode("4:::[1]", json_loads=lambda s: ("loaded", s))["data"] == ("loaded", "[1]")
    assert calls == [{"a": 1}]


def test_decode_bytes_as_utf8():
    assert decode("3:::héllo 😀".encode()) == {
        "type": "message",
        "endpoint": "",
        "data": "héllo 😀",
    }
    assert decode(bytearray(b"2::")) == {"type": "heartbeat", "endpoint": ""}
    with pytest.raises(PacketError, match="UTF-8"):
        decode(b"3:::\xff\xfe")


def test_ack_with_empty_data_has_no_args():
    # An empty '+data' reads as no arguments, as the client reads it.
    assert decode("6:::2+") == {"type": "ack", "endpoint": "", "ackId": 2, "args": []}


def test_lenient_event():
    # As the original: an event without usable JSON has args [] and no name.
    assert decode("5:::") == {"type": "event", "endpoint": "", "args": []}
    assert decode("5::/chat:not json") == {"type": "event", "endpoint": "/chat", "args": []}
    assert decode("5:::[1,2]") == {"type": "event", "endpoint": "", "args": []}
    assert decode('5:::{"name":3}') == {"type": "event", "endpoint": "", "args": []}
    assert decode('5:::{"name":"n","args":null}') == {
        "type": "event",
        "endpoint": "",
        "name": "n",
        "args": [],
    }
    assert decode('5:1+::{"args":[]}') == {
        "type": "event",
        "endpoint": "",
        "id": 1,
        "ack": "data",
        "args": [],
    }


def test_unknown_type_message():
    with pytest.raises(PacketError) as info:
        decode("99::")
    assert str(info.value) == "Unknown message type: 99"
    assert info.value.message == "Unknown message type: 99"
    with pytest.raises(PacketError, match="Unknown message type: 9"):
        decode("9::")
    with pytest.raises(PacketError, match="Unknown message type: nope"):
        encode({"type": "nope"})


def test_packet_error_is_exported_value_error():
    assert packet.PacketError is PacketError
    assert "PacketError" in packet.__all__
    assert issubclass(PacketError, ValueError)
    assert issubclass(PacketError, ProtocolError)
    assert issubclass(PacketError, SocketIOError)
    assert PacketError("x").status_hint == 400


@pytest.mark.parametrize(
    "wire",
    [
        "",
        "garbage",
        "2:",
        "3",
        "x::",
        ":::",
        "05::",
        "3:abc::x",
        "3:+::x",
        "3:1++::x",
        "3:-1::x",
        "4:::",
        "4:::{bad",
        "4:::NaN",
        "4:::[Infinity]",
        "4:::" + "[" * 100_000,
        "6:::",
        "6:::x",
        "6:::2x",
        "6:::2+not json",
        '6:::2+{"a":1}',
        "7:::9",
        "7:::1+7",
        "7:::x",
        "7:::1+0+0",
        '5:::{"name":"x","args":{"a":1}}',
        "5:" + "1" * 5000 + "::",
        "6:::" + "1" * 5000,
        "7:::" + "1" * 5000,
    ],
)
def test_decode_malformed_raises_packet_error(wire):
    with pytest.raises(PacketError) as info:
        decode(wire)
    assert info.value.message == str(info.value)


def test_decode_non_text_raises():
    with pytest.raises(PacketError, match="must be str"):
        decode(None)
    with pytest.raises(PacketError):
        decode(42)


@pytest.mark.parametrize(
    "pkt",
    [
        {},
        None,
        "3:::x",
        {"type": 3},
        {"type": "message", "endpoint": "/a:b", "data": "x"},
        {"type": "message", "endpoint": 5},
        {"type": "message", "data": 5},
        {"type": "message", "data": "x", "id": "abc"},
        {"type": "message", "data": "x", "id": -1},
        {"type": "message", "data": "x", "id": [1]},
        {"type": "json"},
        {"type": "json", "data": object()},
        {"type": "json", "data": float("nan")},
        {"type": "json", "data": [float("inf")]},
        {"type": "json", "data": decimal.Decimal("NaN")},
        {"type": "event", "args": [1]},
        {"type": "event", "name": 5},
        {"type": "event", "name": "x", "args": [{1, 2}]},
        {"type": "ack"},
        {"type": "ack", "ackId": "x"},
        {"type": "ack", "ackId": -2},
        {"type": "ack", "ackId": 1, "args": [object()]},
        {"type": "error", "reason": "bogus"},
        {"type": "error", "advice": "retry"},
    ],
)
def test_encode_invalid_raises_packet_error(pkt):
    with pytest.raises(PacketError):
        encode(pkt)


def test_encode_deeply_nested_raises_packet_error():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(PacketError):
        encode({"type": "json", "data": deep})


def test_constant_tables():
    assert packet.MSG_TYPES == {
        "disconnect": 0,
        "connect": 1,
        "heartbeat": 2,
        "message": 3,
        "json": 4,
        "event": 5,
        "ack": 6,
        "error": 7,
        "noop": 8,
    }
    assert packet.MSG_VALUES == {v: k for k, v in packet.MSG_TYPES.items()}
    assert packet.ERROR_REASONS == {
        "transport not supported": 0,
        "client not handshaken": 1,
        "unauthorized": 2,
    }
    assert packet.REASONS_VALUES == {
        0: "transport not supported",
        1: "client not handshaken",
        2: "unauthorized",
    }
    assert packet.ERROR_ADVICES == {"reconnect": 0}
    assert packet.ADVICES_VALUES == {0: "reconnect"}


# -- properties ---------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["😀", "\ufffd", "a:b+c", "\u2028\u2029", "</script>"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
endpoints = st.just("") | st.text(max_size=12).filter(lambda s: ":" not in s).map(lambda s: "/" + s)
ids = st.integers(min_value=0, max_value=10**12)


@st.composite
def packets(draw):
    ptype = draw(st.sampled_from(sorted(packet.MSG_TYPES)))
    pkt = {"type": ptype, "endpoint": draw(endpoints)}
    if draw(st.booleans()):
        pkt["id"] = draw(ids)
        pkt["ack"] = draw(st.sampled_from([True, "data"]))
    if ptype == "connect":
        pkt["qs"] = draw(st.text(max_size=20))
    elif ptype == "message":
        pkt["data"] = draw(st.text(max_size=30))
    elif ptype == "json":
        pkt["data"] = draw(json_values)
    elif ptype == "event":
        pkt["name"] = draw(st.text(max_size=12))
        pkt["args"] = draw(st.lists(json_values, max_size=4))
    elif ptype == "ack":
        pkt["ackId"] = draw(ids)
        pkt["args"] = draw(st.lists(json_values, max_size=4))
    elif ptype == "error":
        pkt["reason"] = draw(st.sampled_from(["", *packet.ERROR_REASONS]))
        pkt["advice"] = draw(st.sampled_from(["", *packet.ERROR_ADVICES]))
    return pkt


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(packets())
def test_property_roundtrip(pkt):
    wire = encode(pkt)
    assert decode(wire) == pkt
    assert decode(wire.encode("utf-8")) == pkt
    # Encoding is canonical: the same packet always gives the same text.
    assert encode(decode(wire)) == wire


@FAST
@given(st.text())
def test_property_decode_arbitrary_text(text):
    try:
        result = decode(text)
    except PacketError as exc:
        error: PacketError | None = exc
    else:
        error = None
    if error is not None:
        assert error.message == str(error)
    else:
        assert isinstance(result, dict)
        assert result["type"] in packet.MSG_TYPES


@FAST
@given(st.sampled_from("012345678"), st.text(alphabet='0123456789+:/{}[]",ab', max_size=25))
def test_property_decode_near_valid_text(type_char, rest):
    try:
        result = decode(type_char + ":" + rest)
    except PacketError:
        return
    assert result["type"] == packet.MSG_VALUES[int(type_char)]


# -- what a hostile client may send: whatever decodes can be encoded again ---------------


@pytest.mark.parametrize(
    "wire",
    [
        "4:::1e999",
        "4:::[-1E400]",
        "4:::[" + "9" * 10_000 + "]",  # past Python's int conversion limit
        "4:::" + "[" * 129 + "]" * 129,
        "4:::" + "[" * 990 + "]" * 990,
        "4:::" + '{"a":' * 990 + "1" + "}" * 990,
        "6:::1+[1e999]",
        "6:::1+" + "[" * 990 + "]" * 990,
    ],
    ids=lambda wire: wire[:16],
)
def test_json_the_encoder_could_not_write_again_is_refused(wire):
    with pytest.raises(PacketError):
        decode(wire)


@pytest.mark.parametrize(
    "data",
    [
        '{"name":"x","args":[1e999]}',
        '{"name":"x","args":[NaN]}',
        '{"name":"x","args":[' + "9" * 10_000 + "]}",
        '{"name":"x","args":' + "[" * 990 + "]" * 990 + "}",
    ],
    ids=["inf", "nan", "digits", "deep"],
)
def test_such_an_event_decodes_leniently_without_a_name(data):
    assert decode("5:1+::" + data) == {
        "type": "event",
        "endpoint": "",
        "id": 1,
        "ack": "data",
        "args": [],
    }


@pytest.mark.parametrize(
    "wire",
    [
        '5:1+::{"name":"x","args":["\\ud800","a\\udfff","\\ud83d\\ude00"]}',
        '5:1+::{"name":"x","args":' + "[" * 120 + "]" * 120 + "}",
        '5:1+::{"name":"x","args":[' + "9" * 4000 + "]}",
        '5:1+::{"name":"x","args":[1.7976931348623157e308,-4e-320]}',
        '5:1+::{"name":"' + "a" * 100_000 + '"}',
    ],
    ids=["surrogates", "nested-120", "4000-digits", "float-edges", "long-name"],
)
def test_what_decodes_encodes_again(wire):
    pkt = decode(wire)
    ack = encode({"type": "ack", "ackId": 1, "args": pkt["args"], "endpoint": ""})
    assert decode(ack)["args"] == pkt["args"]
    assert decode(encode(pkt)) == pkt


def test_text_written_as_is_has_no_lone_surrogates():
    # A str may hold one (JSON's "\ud800" decodes to it); UTF-8 cannot: the
    # transport would fail on the whole batch. A browser sends U+FFFD instead.
    assert encode({"type": "message", "data": "a\ud800b\udfff"}) == "3:::a\ufffdb\ufffd"
    assert encode({"type": "message", "data": "é😀"}) == "3:::é😀"
    assert encode({"type": "connect", "endpoint": "/a", "qs": "?q=\udc80"}) == "1::/a:?q=\ufffd"
    assert encode({"type": "message", "data": "a\ud800"}).encode("utf-8")
