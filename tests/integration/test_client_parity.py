"""Our codec against the parser of the real socket.io-client 0.9.16, run in node.

A seeded corpus of packets and payloads goes through both sides
(``tests/js/parity.js`` calls the client's own ``encodePacket``,
``decodePacket``, ``encodePayload`` and ``decodePayload``):

* (a) ``encode(p)`` against the client's ``encodePacket(p')``, where ``p'`` is
  the client's form of the same packet (ids and ``ackId`` as strings);
* (b) the client's ``decodePacket`` of our text against our ``decode``, and
  our ``decode`` of the client's text against the packet we started from;
* (c) payload framing both ways.

The client is the ground truth of the wire format. Where the two texts differ
for a valid packet, the difference must be one of the documented,
meaning-preserving ones (see ``test_known_representation_differences``):
the client accepts ours and we accept the client's, value for value.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from socketio.exceptions import PacketError
from socketio.packet import ERROR_ADVICES, ERROR_REASONS, MSG_TYPES, decode, encode
from socketio.payload import FRAME, decode_payload, encode_payload

pytestmark = pytest.mark.node

SEED = 20240917
N_PACKETS = 630  # 70 of each of the nine types
N_PAYLOADS = 150
JSON_TYPES = {"json", "event", "ack"}
TYPES = sorted(MSG_TYPES, key=MSG_TYPES.get)

CHARS = [
    *"abcxyzABC0129 _-.,;:+/?=&%#@!*()'\"\\{}[]<>",
    "\n",
    "\r",
    "\t",
    "\b",
    "\x00",
    "\x1f",
    "\x7f",
    "é",
    "ß",
    "ñ",
    "中",
    "文",
    "Ω",
    "\u00a0",
    "\ufeff",
    "\ufffd",
    "\u2028",
    "\u2029",
    "😀",
    "🎉",
    "𝄞",
    "\U0010fffd",
    "</script>",
]
SAFE_INT = 2**53 - 1  # JavaScript numbers hold integers exactly up to here
FLOATS = [0.5, -2.25, 1e-7, 1e21, 1.5e300, 5e-324, 1.0, -0.0, 3.141592653589793, 0.1, 123456.789]
ENDPOINTS = [
    "",
    "",
    "",
    "/chat",
    "/news",
    "/ünï",
    "/😀",
    "/a+b",
    "/with space",
    "/x?y=z",
    "/\ufffd",
]


def rtext(rng: random.Random, size: int = 12) -> str:
    return "".join(rng.choice(CHARS) for _ in range(rng.randint(0, size)))


def rjson(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, 1, -1, 42, SAFE_INT, -SAFE_INT, rng.randint(-(10**12), 10**12)])
    if kind == 3:
        return rng.choice([*FLOATS, rng.uniform(-1e6, 1e6)])
    if kind in (4, 5):
        return rtext(rng)
    if kind == 6:
        return [rjson(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = [rng.choice(["a", "b", "name", "args", "1", "10", "2", "é", "😀", ""]) for _ in range(4)]
    return {
        k if rng.random() < 0.7 else rtext(rng, 5): rjson(rng, depth + 1)
        for k in keys[: rng.randint(0, 4)]
    }


def make_packet(rng: random.Random, ptype: str) -> dict[str, Any]:
    pkt: dict[str, Any] = {"type": ptype, "endpoint": rng.choice(ENDPOINTS)}
    if rng.random() < 0.5:
        pkt["id"] = rng.choice([0, 1, 7, 99, rng.randint(0, 10**9), 10**15])
        pkt["ack"] = rng.choice([True, "data"])
    if ptype == "connect":
        pkt["qs"] = rng.choice(["", "", "?token=abc", "?a=1&b=x:y", "?q=" + rtext(rng, 6)])
    elif ptype == "message":
        pkt["data"] = rtext(rng, 30)
    elif ptype == "json":
        pkt["data"] = rjson(rng)
    elif ptype == "event":
        pkt["name"] = rng.choice(["say", "my event", "ping", rtext(rng, 8)])
        pkt["args"] = [rjson(rng) for _ in range(rng.choice([0, 0, 1, 2, 3]))]
    elif ptype == "ack":
        pkt["ackId"] = rng.choice([0, 1, 2, rng.randint(0, 10**9)])
        pkt["args"] = [rjson(rng) for _ in range(rng.choice([0, 0, 1, 2, 3]))]
    elif ptype == "error":
        pkt["reason"] = rng.choice(["", *ERROR_REASONS])
        pkt["advice"] = rng.choice(["", *ERROR_ADVICES])
    return pkt


# Packets written out by hand: the examples of the protocol and the corners.
HAND_PICKED: list[dict[str, Any]] = [
    {"type": "disconnect", "endpoint": "/chat"},
    {"type": "disconnect", "endpoint": ""},
    {"type": "connect", "endpoint": "/chat", "qs": "?token=abc"},
    {"type": "connect", "endpoint": "", "qs": ""},
    {"type": "heartbeat", "endpoint": ""},
    {"type": "message", "endpoint": "", "id": 1, "ack": True, "data": "hello"},
    {"type": "message", "endpoint": "", "data": ":starts:with:colons"},
    {"type": "message", "endpoint": "/chat", "data": ""},
    {"type": "message", "endpoint": "", "data": f"{FRAME}12{FRAME}3:::x"},
    {"type": "json", "endpoint": "", "id": 1, "ack": "data", "data": {"a": 1}},
    {"type": "json", "endpoint": "", "data": None},
    {"type": "event", "endpoint": "/chat", "id": 2, "ack": "data", "name": "say", "args": ["hi"]},
    {"type": "event", "endpoint": "", "name": "no args", "args": []},
    {"type": "ack", "endpoint": "", "ackId": 2, "args": []},
    {"type": "ack", "endpoint": "", "ackId": 2, "args": ["result"]},
    {"type": "ack", "endpoint": "", "ackId": 2, "args": ["a+b:c"]},
    {"type": "ack", "endpoint": "/chat", "ackId": 4, "args": ["ok"]},
    {"type": "error", "endpoint": "/chat", "reason": "unauthorized", "advice": "reconnect"},
    {"type": "error", "endpoint": "", "reason": "client not handshaken", "advice": "reconnect"},
    {"type": "error", "endpoint": "", "reason": "", "advice": "reconnect"},
    {"type": "error", "endpoint": "", "reason": "transport not supported", "advice": ""},
    {"type": "error", "endpoint": "", "reason": "", "advice": ""},
    {"type": "noop", "endpoint": ""},
]


def build_corpus() -> tuple[list[dict[str, Any]], list[list[int]]]:
    rng = random.Random(SEED)
    packets = list(HAND_PICKED)
    packets += [make_packet(rng, TYPES[i % len(TYPES)]) for i in range(N_PACKETS)]
    payloads: list[list[int]] = []
    for _ in range(N_PAYLOADS):
        size = rng.choice([1, 2, 2, 3, 4, 6, 10])
        payloads.append([rng.randrange(len(packets)) for _ in range(size)])
    # framing corners: frame markers and digits inside data, emoji-only packets
    tricky = [
        i for i, p in enumerate(packets) if p["type"] == "message" and FRAME in p.get("data", "")
    ]
    emoji = [i for i, p in enumerate(packets) if "😀" in json.dumps(p, ensure_ascii=False)]
    payloads += [tricky[:3], emoji[:5], tricky[-2:] + emoji[-2:]]
    return packets, payloads


def to_client(pkt: dict[str, Any], variant: int) -> dict[str, Any]:
    """The same packet as the client's code holds it.

    Its ids and ackId are strings; an event without arguments may have no
    ``args`` at all.
    """
    out = dict(pkt)
    if "id" in out:
        out["id"] = str(out["id"])
    if out["type"] == "ack":
        out["ackId"] = str(out["ackId"])
    if out["type"] == "event" and not out["args"] and variant % 2:
        del out["args"]
    return out


def from_client(obj: Any) -> dict[str, Any]:
    """The client's decoded packet in our form (ids and ackId back to ints).

    An empty object is the client's "cannot parse": it is reported, never matched.
    """
    assert isinstance(obj, dict), obj
    assert obj != {}, "the client's decodePacket returned {}: it could not parse the packet"
    assert isinstance(obj.get("type"), str), f"the client found no packet type: {obj!r}"
    out = dict(obj)
    for key in ("id", "ackId"):
        if key in out:
            assert isinstance(out[key], str), (key, out[key])
            assert out[key].isdigit(), (key, out[key])
            out[key] = int(out[key])
    return out


def same(a: Any, b: Any) -> bool:
    """Equality of decoded JSON-ish values that does not confuse True with 1.

    Numbers compare by value (the client cannot tell 1 from 1.0).
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def split_json(wire: str, ptype: str) -> tuple[str, str]:
    """Split a json/event/ack packet into (everything before the JSON, the JSON)."""
    parts = wire.split(":", 3)
    head, data = ":".join(parts[:3]) + ":", parts[3]
    if ptype == "ack":
        ack_id, plus, data = data.partition("+")
        head += ack_id + plus
    return head, data


def js_identical_json(value: Any) -> bool:
    """Whether JSON.stringify and our writer must give the very same text.

    That holds for strings below U+007F only (we escape DEL and everything above it), no
    floats, no object with two keys or more.
    """
    if isinstance(value, str):
        return all(ch < "\x7f" for ch in value)
    if isinstance(value, float):
        return False
    if isinstance(value, list):
        return all(js_identical_json(v) for v in value)
    if isinstance(value, dict):
        return len(value) < 2 and all(
            js_identical_json(k) and js_identical_json(v) for k, v in value.items()
        )
    return True


def expect_identical(pkt: dict[str, Any]) -> bool:
    if pkt["type"] == "json":
        return js_identical_json(pkt["data"])
    if pkt["type"] == "event":
        return not pkt["args"] and js_identical_json(pkt["name"])
    if pkt["type"] == "ack":
        return js_identical_json(pkt["args"])
    return True


@pytest.fixture(scope="module")
def parity(run_node):
    packets, payloads = build_corpus()
    ours = [encode(p) for p in packets]
    clients = [to_client(p, i) for i, p in enumerate(packets)]
    calls = [["encodePacket", c] for c in clients] + [["decodePacket", w] for w in ours]
    out = run_node("parity.js", {"calls": calls})
    assert out["version"] == "0.9.16"
    n = len(packets)
    theirs = out["results"][:n]
    client_decoded = out["results"][n:]

    bodies = [encode_payload([ours[i] for i in idx]) for idx in payloads]
    calls = []
    for idx, body in zip(payloads, bodies, strict=True):
        calls.append(["encodePayload", [ours[i] for i in idx]])
        calls.append(["decodePayload", body])
        calls.append(["encodePayload", [theirs[i] for i in idx]])
    out = run_node("parity.js", {"calls": calls})
    results = out["results"]
    return {
        "packets": packets,
        "ours": ours,
        "clients": clients,
        "theirs": theirs,
        "client_decoded": client_decoded,
        "payloads": payloads,
        "bodies": bodies,
        "client_encode_payload": results[0::3],
        "client_decode_payload": results[1::3],
        "client_framed_theirs": results[2::3],
    }


def test_corpus_size_and_coverage(parity):
    packets = parity["packets"]
    assert len(packets) >= 500
    assert len(parity["payloads"]) >= 100
    assert {p["type"] for p in packets} == set(MSG_TYPES)
    for ptype in MSG_TYPES:
        of_type = [p for p in packets if p["type"] == ptype]
        assert len(of_type) >= 50, ptype
        assert any("id" in p for p in of_type), ptype
        assert any("id" not in p for p in of_type), ptype
        assert any(p["endpoint"] for p in of_type), ptype
        assert any(not p["endpoint"] for p in of_type), ptype
    text = json.dumps(packets, ensure_ascii=False)
    for ch in ("😀", "\ufffd", "\u2028", "é", "中"):
        assert ch in text
    assert any(p.get("ack") == "data" for p in packets)
    assert any(p["type"] == "event" and not p["args"] for p in packets)
    assert any(p["type"] == "ack" and p["args"] for p in packets)
    assert sum(len(idx) == 1 for idx in parity["payloads"]) >= 5


def test_our_codec_roundtrips_the_corpus(parity):
    for pkt, wire in zip(parity["packets"], parity["ours"], strict=True):
        assert decode(wire) == pkt, wire


def test_encode_matches_client_encodePacket(parity):
    identical = {t: 0 for t in MSG_TYPES}
    for pkt, client_pkt, ours, theirs in zip(
        parity["packets"], parity["clients"], parity["ours"], parity["theirs"], strict=True
    ):
        assert isinstance(theirs, str), (client_pkt, theirs)
        if pkt["type"] == "error" and not (pkt["reason"] or pkt["advice"]):
            # The original's form: an error's data field is written even when
            # empty ('7:::'); the client leaves it out. Both decode the same.
            assert ours == theirs + ":", (pkt, ours, theirs)
            identical["error"] += 1
            continue
        if expect_identical(pkt):
            assert ours == theirs, (pkt, ours, theirs)
        if ours == theirs:
            identical[pkt["type"]] += 1
            continue
        # Only the documented representation differences are allowed: the same
        # header byte for byte, and JSON that means the same value.
        assert pkt["type"] in JSON_TYPES, (ours, theirs)
        our_head, our_json = split_json(ours, pkt["type"])
        their_head, their_json = split_json(theirs, pkt["type"])
        assert our_head == their_head, (ours, theirs)
        assert same(json.loads(our_json), json.loads(their_json)), (ours, theirs)
    # Every type has packets that come out byte for byte as the client's.
    assert all(count >= 10 for count in identical.values()), identical
    for ptype in set(MSG_TYPES) - JSON_TYPES:
        assert identical[ptype] == sum(p["type"] == ptype for p in parity["packets"])


def test_client_decodes_our_packets_like_we_do(parity):
    for pkt, ours, client in zip(
        parity["packets"], parity["ours"], parity["client_decoded"], strict=True
    ):
        theirs = from_client(client)
        assert same(theirs, decode(ours)), (ours, client)
        assert same(theirs, pkt), (ours, client)


def test_we_decode_client_packets(parity):
    # The server's direction: what the client writes, we read back as the packet.
    for pkt, theirs in zip(parity["packets"], parity["theirs"], strict=True):
        assert same(decode(theirs), pkt), (theirs, pkt)


def test_encode_payload_matches_client(parity):
    for idx, body, client_body in zip(
        parity["payloads"], parity["bodies"], parity["client_encode_payload"], strict=True
    ):
        assert body == client_body, idx
        if len(idx) == 1:
            assert body == parity["ours"][idx[0]]  # a single packet travels bare
        else:
            assert body.startswith(FRAME)


def test_client_decodes_our_payloads(parity):
    for idx, body, client_packets in zip(
        parity["payloads"], parity["bodies"], parity["client_decode_payload"], strict=True
    ):
        ours = [decode(p) for p in decode_payload(body)]
        assert ours == [parity["packets"][i] for i in idx]
        assert len(client_packets) == len(ours), (body, client_packets)
        for client, mine in zip(client_packets, ours, strict=True):
            assert same(from_client(client), mine), (body, client)


def test_we_decode_client_payloads(parity):
    for idx, framed in zip(parity["payloads"], parity["client_framed_theirs"], strict=True):
        assert decode_payload(framed) == [parity["theirs"][i] for i in idx]
        decoded = [decode(p) for p in decode_payload(framed)]
        assert all(same(d, parity["packets"][i]) for d, i in zip(decoded, idx, strict=True)), framed


# -- the differences, written out ----------------------------------------------

# (packet, our text, the client's text). Both sides read both texts as the same
# packet (checked below); only the spelling of the JSON differs:
# * we sort object keys (api.md: sorted, deterministic output); the client keeps
#   insertion order ({name, args} for events) and puts integer-like keys first;
# * we escape DEL and non-ASCII as \\uXXXX (the wire stays ASCII);
#   JSON.stringify writes the characters themselves;
# * floats: Python's repr (1.0, 1e-07) against JavaScript's (1, 1e-7).
REPRESENTATION_DIFFERENCES = [
    (
        {"type": "event", "endpoint": "", "name": "say", "args": ["hi"]},
        '5:::{"args":["hi"],"name":"say"}',
        '5:::{"name":"say","args":["hi"]}',
    ),
    (
        {"type": "json", "endpoint": "", "data": {"b": 1, "a": 2, "10": 3, "9": 4}},
        '4:::{"10":3,"9":4,"a":2,"b":1}',
        '4:::{"9":4,"10":3,"b":1,"a":2}',
    ),
    ({"type": "json", "endpoint": "", "data": "é😀"}, '4:::"\\u00e9\\ud83d\\ude00"', '4:::"é😀"'),
    (
        {"type": "ack", "endpoint": "", "ackId": 1, "args": [1.0, 1e-07]},
        "6:::1+[1.0,1e-07]",
        "6:::1+[1,1e-7]",
    ),
]


def test_known_representation_differences(run_node):
    calls = []
    for pkt, ours, theirs in REPRESENTATION_DIFFERENCES:
        calls += [
            ["encodePacket", to_client(pkt, 0)],
            ["decodePacket", ours],
            ["decodePacket", theirs],
        ]
    results = run_node("parity.js", {"calls": calls})["results"]
    for k, (pkt, ours, theirs) in enumerate(REPRESENTATION_DIFFERENCES):
        assert encode(pkt) == ours
        assert results[3 * k] == theirs
        assert same(from_client(results[3 * k + 1]), pkt)
        assert same(from_client(results[3 * k + 2]), pkt)
        assert same(decode(theirs), pkt)


def test_client_quirk_event_args_only_when_non_empty(run_node):
    calls = [
        ["encodePacket", {"type": "event", "name": "x", "args": []}],
        ["encodePacket", {"type": "event", "name": "x"}],
        ["encodePacket", {"type": "event", "name": "x", "args": [1]}],
        ["decodePacket", '5:::{"name":"x"}'],
        ["decodePacket", '5:::{"name":"x","args":[]}'],
    ]
    enc_empty, enc_missing, enc_one, dec_missing, dec_empty = run_node(
        "parity.js", {"calls": calls}
    )["results"]
    assert enc_empty == enc_missing == '5:::{"name":"x"}'
    assert encode({"type": "event", "name": "x", "args": []}) == enc_empty
    assert encode({"type": "event", "name": "x"}) == enc_missing
    assert enc_one == '5:::{"name":"x","args":[1]}'
    expected = {"type": "event", "endpoint": "", "name": "x", "args": []}
    assert dec_missing == dec_empty == expected
    assert decode('5:::{"name":"x"}') == decode('5:::{"name":"x","args":[]}') == expected


def test_client_quirk_ack_data_with_line_separator(run_node):
    # The client splits ack data with /^([0-9]+)(\+)?(.*)/, and '.' stops at
    # U+2028/U+2029, which JSON.stringify leaves raw: the client cannot read its
    # own ack. Our encoding escapes them, so the client reads ours; we read both.
    pkt = {"type": "ack", "endpoint": "", "ackId": 3, "args": ["a\u2028b"]}
    calls = [["encodePacket", to_client(pkt, 0)]]
    (theirs,) = run_node("parity.js", {"calls": calls})["results"]
    assert theirs == '6:::3+["a\u2028b"]'
    calls = [["decodePacket", theirs], ["decodePacket", encode(pkt)]]
    client_own, client_ours = run_node("parity.js", {"calls": calls})["results"]
    assert client_own == {"type": "ack", "endpoint": "", "ackId": "3", "args": []}  # lost
    assert same(from_client(client_ours), pkt)
    assert decode(theirs) == pkt


# What the client makes of input we refuse. Its decodePacket never throws: an
# unparsable packet is {}, an unknown type leaves `type` undefined, bad JSON is
# dropped silently. We raise PacketError instead (api.md), except for the event
# packet, which both sides read leniently.
UNDEF = {"$undefined": True}
MALFORMED = [
    ("garbage", {}),
    ("2:", {}),
    ("", {}),
    ("99::", {"type": UNDEF, "endpoint": ""}),
    ("3:abc::x", {"type": UNDEF, "endpoint": "x"}),  # the regex is not anchored: it reads "abc::x"
    ("4:::{bad", {"type": "json", "endpoint": ""}),
    ("4:::", {"type": "json", "endpoint": ""}),
    ("4:::NaN", {"type": "json", "endpoint": ""}),
    ("6:::x", {"type": "ack", "endpoint": ""}),
    ("6:::2x", {"type": "ack", "endpoint": "", "ackId": "2", "args": []}),
    ('6:::2+{"a":1}', {"type": "ack", "endpoint": "", "ackId": "2", "args": {"a": 1}}),
    ("7:::9", {"type": "error", "endpoint": "", "reason": "", "advice": ""}),
    ("7:::1+5", {"type": "error", "endpoint": "", "reason": "client not handshaken", "advice": ""}),
    (
        '5:::{"name":"x","args":{"a":1}}',
        {"type": "event", "endpoint": "", "name": "x", "args": {"a": 1}},
    ),
]
LENIENT_BOTH = [
    ("5:::", {"type": "event", "endpoint": "", "args": []}),
    ("5:::not json", {"type": "event", "endpoint": "", "args": []}),
    ("6:::2+", {"type": "ack", "endpoint": "", "ackId": "2", "args": []}),
]


def test_client_quirk_malformed_input(run_node):
    wires = [w for w, _ in MALFORMED + LENIENT_BOTH]
    results = run_node("parity.js", {"calls": [["decodePacket", w] for w in wires]})["results"]
    for (wire, client_view), result in zip(MALFORMED + LENIENT_BOTH, results, strict=True):
        assert result == client_view, wire
    for wire, _ in MALFORMED:
        with pytest.raises(PacketError):
            decode(wire)
    for wire, client_view in LENIENT_BOTH:
        assert decode(wire) == from_client(client_view)


def test_client_quirk_empty_payload(run_node):
    # The client reads an empty body as one unparsable packet; we read no packets.
    (result,) = run_node("parity.js", {"calls": [["decodePayload", ""]]})["results"]
    assert result == [{}]
    assert decode_payload("") == []
