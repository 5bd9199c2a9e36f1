"""socketio.defaultjson: compact, sorted, Decimal-aware, standard JSON only."""

from __future__ import annotations

import decimal
import json

import pytest

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
    with pytest.raises(ValueError):
        default_json_dumps(value)


def test_unserialisable_raises_type_error():
    with pytest.raises(TypeError):
        default_json_dumps(object())
    with pytest.raises(TypeError):
        default_json_dumps({1, 2})


def test_loads():
    assert default_json_loads('{"a":[1,2.5,"x",null,true]}') == {"a": [1, 2.5, "x", None, True]}
    assert default_json_loads(b'["\\u00e9"]') == ["é"]
    with pytest.raises(ValueError):
        default_json_loads("{bad")
    with pytest.raises(ValueError):
        default_json_loads("")


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a":-Infinity}'])
def test_loads_refuses_non_standard_constants(text):
    with pytest.raises(ValueError, match="not valid JSON"):
        default_json_loads(text)


def test_encoder_class():
    assert json.dumps(decimal.Decimal("2.5"), cls=DecimalEncoder) == "2.5"
