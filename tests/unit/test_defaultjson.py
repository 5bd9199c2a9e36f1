"""socketio.defaultjson: compact, sorted, Decimal-aware, standard JSON only."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketio import defaultjson
from socketio.defaultjson import DecimalEncoder, default_json_dumps, default_json_loads


def test_compact_and_sorted():
    assert default_json_dumps({"b": 1, "a": [1, 2, {"d": None, "c": True}]}) == (
        '{"a":[1,2,{"c":true,"d":null}],"b":1}'
    )
    assert default_json_dumps([]) == "[]"
    assert default_json_dumps("x") == '"x"'


def test_non_ascii_is_escaped():
    assert default_json_dumps(["é", "😀", "\u2028"]) == '["\\u00e9","\\ud83d\\ude00","\\u2028"]'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (decimal.Decimal("3"), "3"),
        (decimal.Decimal("-3.000"), "-3"),
        (decimal.Decimal("1.25"), "1.25"),
        (decimal.Decimal("0.1"), "0.1"),
        (decimal.Decimal("1E+3"), "1000"),
        (decimal.Decimal("123456789012345678901234567890"), "123456789012345678901234567890"),
        ({"price": decimal.Decimal("9.99")}, '{"price":9.99}'),
    ],
)
def test_decimal_as_number(value, text):
    assert default_json_dumps(value) == text


@pytest.mark.parametrize(
    "value", [decimal.Decimal("NaN"), decimal.Decimal("Infinity"), decimal.Decimal("-Infinity")]
)
def test_non_finite_decimal_refused(value):
    with pytest.raises(TypeError):
        default_json_dumps(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [float("-inf")]])
def test_non_finite_float_refused(value):
    # json's default would write NaN/Infinity, which JSON.parse in the client rejects.
    with pytest.raises(ValueError, match="not JSON compliant"):
        default_json_dumps(value)


def test_unserialisable_raises_type_error():
    with pytest.raises(TypeError):
        default_json_dumps(object())
    with pytest.raises(TypeError):
        default_json_dumps({1, 2})


def test_loads():
    assert default_json_loads('{"a":[1,2.5,"x",null,true]}') == {"a": [1, 2.5, "x", None, True]}
    assert default_json_loads(b'["\\u00e9"]') == ["é"]
    with pytest.raises(ValueError, match="Expecting property name"):
        default_json_loads("{bad")
    with pytest.raises(ValueError, match="Expecting value"):
        default_json_loads("")


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a":-Infinity}'])
def test_loads_refuses_non_standard_constants(text):
    with pytest.raises(ValueError, match="not valid JSON"):
        default_json_loads(text)


def test_encoder_class():
    assert json.dumps(decimal.Decimal("2.5"), cls=DecimalEncoder) == "2.5"


# -- with orjson installed (the speedups extra): the same results as json ----------

STDLIB_ENCODER = DecimalEncoder(separators=(",", ":"), sort_keys=True, allow_nan=False)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


def test_orjson_is_used_when_installed():
    pytest.importorskip("orjson")
    assert defaultjson._OR_DUMPS is not None


@given(json_values)
def test_dumps_gives_what_json_gives(value):
    # the same text, not only the same value: wire output does not depend on orjson
    assert default_json_dumps(value) == STDLIB_ENCODER.encode(value)


@given(json_values)
def test_loads_gives_what_json_gives(value):
    text = STDLIB_ENCODER.encode(value)
    assert default_json_loads(text) == json.loads(text)
    assert default_json_loads(text.encode()) == json.loads(text)


class Colour(enum.IntEnum):
    RED = 1


class Text(str):
    pass


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2**64, "18446744073709551616"),  # over orjson's 64 bits
        ([None, 1], "[null,1]"),
        (["é"], '["\\u00e9"]'),
        (Colour.RED, "1"),
        ({"k": Text("v")}, '{"k":"v"}'),
        (1e16, "1e+16"),
        ([1e-07, 1.5e-05, -2e-300], "[1e-07,1.5e-05,-2e-300]"),
    ],
)
def test_dumps_where_orjson_would_differ(value, text):
    assert default_json_dumps(value) == text


@pytest.mark.parametrize("value", [Point(1), datetime.date(2026, 1, 1), b"bytes", {1: 2, "a": 3}])
def test_dumps_refuses_what_json_refuses(value):
    with pytest.raises(TypeError):
        default_json_dumps(value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("123456789012345678901234567890", 123456789012345678901234567890),  # not a float
        ("[18446744073709551616]", [18446744073709551616]),
        ("-9223372036854775809", -9223372036854775809),  # under -2**63: 19 digits
        ('"\\ud800"', "\ud800"),  # a lone surrogate, which orjson refuses
    ],
)
def test_loads_where_orjson_would_differ(text, value):
    assert default_json_loads(text) == value


def test_without_orjson_the_json_module_does_it_all():
    script = (
        "import sys; sys.modules['orjson'] = None\n"
        "from socketio import defaultjson as d\n"
        "assert d._OR_DUMPS is None and d._OR_LOADS is None\n"
        "assert d.default_json_dumps({'b': [1, None], 'a': 'é'}) == "
        '\'{"a":"\\\\u00e9","b":[1,null]}\'\n'
        "assert d.default_json_loads(b'[18446744073709551616]') == [2**64]\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert proc.stdout.strip() == "ok", proc.stderr


# -- what a client may send: refused unless it can be written again -------------------

# Why a number or a nesting is refused, on both paths: too large for a float, too
# deep, or more digits than int() converts.
REFUSED = "too large for a float|nested|digits"

BOTH_PATHS = pytest.mark.parametrize("with_orjson", [True, False], ids=["orjson", "json"])


@pytest.fixture
def paths(monkeypatch):
    def use(with_orjson):
        if not with_orjson:
            monkeypatch.setattr(defaultjson, "_OR_LOADS", None)
            monkeypatch.setattr(defaultjson, "_OR_DUMPS", None)
        elif defaultjson._OR_LOADS is None:
            pytest.skip("orjson is not installed")

    return use


@BOTH_PATHS
@pytest.mark.parametrize(
    "text",
    [
        "1e999",
        "[-1E400]",
        '{"a":[1,2,1e309]}',
        "[" * (defaultjson.MAX_DEPTH + 1) + "]" * (defaultjson.MAX_DEPTH + 1),
        "[" * 990 + "]" * 990,
        '{"a":' * 990 + "1" + "}" * 990,
        "[" * 100_000 + "]" * 100_000,
        "[" + "9" * 10_000 + "]",
    ],
    ids=["inf", "-inf", "inf-inside", "depth+1", "990", "990-objects", "100000", "10000-digits"],
)
def test_loads_refuses_what_cannot_be_written_again(paths, with_orjson, text):
    paths(with_orjson)
    with pytest.raises(ValueError, match=REFUSED):
        default_json_loads(text)
    with pytest.raises(ValueError, match=REFUSED):
        default_json_loads(text.encode())


@BOTH_PATHS
def test_loads_then_dumps_at_the_depth_limit(paths, with_orjson):
    paths(with_orjson)
    depth = defaultjson.MAX_DEPTH
    for text in (
        "[" * depth + "]" * depth,
        '{"a":' * (depth - 1) + "[1]" + "}" * (depth - 1),
        "[" + ",".join(["[[1]]"] * 5000) + "]",  # many brackets, none deep
        '["' + "[" * 1000 + '"]',  # brackets in a string
    ):
        value = default_json_loads(text)
        assert default_json_loads(default_json_dumps(value)) == value


@BOTH_PATHS
def test_loads_then_dumps_lone_surrogates(paths, with_orjson):
    paths(with_orjson)
    value = default_json_loads('["\\ud800","x\\udfff","\\ud83d\\ude00"]')
    assert value == ["\ud800", "x\udfff", "😀"]
    assert default_json_dumps(value) == '["\\ud800","x\\udfff","\\ud83d\\ude00"]'


@BOTH_PATHS
def test_loads_keeps_the_largest_floats(paths, with_orjson):
    paths(with_orjson)
    assert default_json_loads("[1.7976931348623157e308,-1e-400]") == [1.7976931348623157e308, -0.0]


def test_dumps_escapes_del_as_json_does():
    # orjson writes U+007F as is; the wire text must not depend on orjson (found by hypothesis)
    assert default_json_dumps("\x7f") == '"\\u007f"' == STDLIB_ENCODER.encode("\x7f")


_PLAIN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children) | st.lists(children).map(tuple) | st.dictionaries(st.text(), children)
    ),
    max_leaves=30,
)


@given(_PLAIN)
def test_plain_writer_writes_what_json_writes(value):
    # (PyPy's default_json_dumps writes plain values itself, see defaultjson)
    parts: list[str] = []
    defaultjson._write_plain(value, parts)
    assert "".join(parts) == STDLIB_ENCODER.encode(value)


@pytest.mark.parametrize(
    "value",
    [
        [float("nan")],
        {"a": float("inf")},
        {1: "int key"},
        [decimal.Decimal("1.5")],
        [True, enum.IntEnum("E", "A").A],
        {"s": "x" * 3, "t": (1, [2, {"u": None}])},
    ],
    ids=["nan", "inf", "int-key", "decimal", "int-subclass", "plain"],
)
def test_dumps_leaves_to_json_what_the_plain_writer_does_not_write(monkeypatch, value):
    monkeypatch.setattr(defaultjson, "_OR_DUMPS", None)
    monkeypatch.setattr(defaultjson, "PYPY", True)
    try:
        expected = STDLIB_ENCODER.encode(value)
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc)[:20]):
            default_json_dumps(value)
        return
    assert default_json_dumps(value) == expected


def test_dumps_reports_a_circle_as_json_does(monkeypatch):
    monkeypatch.setattr(defaultjson, "_OR_DUMPS", None)
    monkeypatch.setattr(defaultjson, "PYPY", True)
    circle: list = []
    circle.append(circle)
    with pytest.raises(ValueError, match="Circular reference"):
        default_json_dumps(circle)
