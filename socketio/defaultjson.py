"""The JSON functions used when the application supplies none.

Output is compact (no spaces after separators) with sorted keys, so the same
value always encodes to the same text. :class:`decimal.Decimal` values are
written as JSON numbers. Only standard JSON is written and read: ``NaN`` and
the infinities (which :mod:`json` allows by default, but which JavaScript's
``JSON.parse`` rejects) are refused both ways, and so is a number too large
for a float (``1e999``, which would read as infinity).

What :func:`default_json_loads` returns can always be written again by
:func:`default_json_dumps` (an ack often sends back what the client sent):
besides the infinities, it refuses arrays and objects nested more than
:data:`MAX_DEPTH` deep (the encoders recurse, and orjson writes no more than
254 levels), and integers longer than Python converts (4,300 digits) are a
``ValueError`` as any other bad JSON.

When `orjson <https://pypi.org/project/orjson/>`_ is installed (the
``speedups`` extra), it does the work for the common values, about five times
faster; anything it would treat differently from :mod:`json` goes through
:mod:`json` as before: output that is not pure ASCII (:mod:`json` escapes it)
or holds a ``null`` (orjson writes NaN as ``null``) or a number json
writes in another form (``1e-07``, ``1e-05`` where orjson writes ``1e-7``,
``0.00001``), subclasses of the basic
types, ``Decimal``, integers outside 64 bits (text with a run of 19 digits is
parsed by :mod:`json`: orjson would make a ``float`` of a long integer, such
as -9223372036854775809), and
text orjson refuses to parse.

On PyPy (without orjson) texts are parsed by PyPy's own parser, the one
``json.loads`` uses there (much quicker than :mod:`json`'s Python scanner,
which the checks above need), unless they could hold a number that is not
finite, and plain values (exact built-in types) are written by a small
writer of this module, as :mod:`json` writes them; :mod:`json` writes the
others, and reports what cannot be written.
"""

from __future__ import annotations

import decimal
import json
import re
from typing import Any

from .runtime import PYPY

try:
    import orjson
except ImportError:  # pragma: no cover - the speedups extra is optional
    orjson = None  # type: ignore[assignment]

try:  # PyPy's JSON parser, written in RPython (what json.loads uses there)
    from _pypyjson import loads as _pypy_loads  # type: ignore[import-not-found]
except ImportError:  # CPython
    _pypy_loads = None

__all__ = ["MAX_DEPTH", "DecimalEncoder", "default_json_dumps", "default_json_loads"]

#: most levels of arrays and objects nested in a value read by
#: :func:`default_json_loads` (deeper is a ``ValueError``)
MAX_DEPTH = 128


class DecimalEncoder(json.JSONEncoder):
    """A :class:`json.JSONEncoder` that writes :class:`~decimal.Decimal` as a number.

    Integral decimals become JSON integers exactly; others go through ``float``
    (as the original library did), which keeps 17 significant digits.
    """

    def default(self, o: Any) -> Any:
        """Return a JSON-able stand-in for ``o``: a number for a finite Decimal.

        Raises:
            TypeError: ``o`` is not a Decimal, or is one JSON cannot write (NaN, infinity).
        """
        if isinstance(o, decimal.Decimal):
            if not o.is_finite():
                raise TypeError(f"Decimal {o} has no JSON representation")
            if o == o.to_integral_value():
                return int(o)
            return float(o)
        return super().default(o)


_ENCODER = DecimalEncoder(separators=(",", ":"), sort_keys=True, allow_nan=False)


def _write_plain(value: Any, parts: list[str]) -> bool:
    """Append the JSON of ``value`` to ``parts``, as ``_ENCODER`` writes it, for plain values.

    Only values of the exact built-in types (str, int, finite float, bool,
    None, list, tuple, dict with str keys), which :mod:`json` writes in one
    way; for anything else it returns False (``parts`` then holds a part
    only), and a circle or nesting past the recursion limit raises
    ``RecursionError``: :mod:`json` then writes the value, or says why it
    cannot. Used on PyPy, where it takes half the time of :mod:`json`'s
    encoder, written in Python there (no method calls per value, no ``id()``
    per container for the circle check, which is dear there, keys sorted
    without a key function).
    """
    kind = type(value)
    if kind is str:
        parts.append('"' + _escape_ascii(value) + '"')
    elif kind is dict:
        if not value:
            parts.append("{}")
            return True
        separator = "{"
        for key in sorted(value):
            if type(key) is not str:
                return False
            parts.append(separator + '"' + _escape_ascii(key) + '":')
            if not _write_plain(value[key], parts):
                return False
            separator = ","
        parts.append("}")
    elif kind is list or kind is tuple:
        if not value:
            parts.append("[]")
            return True
        separator = "["
        for item in value:
            parts.append(separator)
            if not _write_plain(item, parts):
                return False
            separator = ","
        parts.append("]")
    elif kind is int:
        parts.append(int.__repr__(value))
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif value is None:
        parts.append("null")
    elif kind is float and value - value == 0.0:  # (not NaN nor an infinity)
        parts.append(float.__repr__(value))
    else:
        return False
    return True


try:  # PyPy's escaping of a str for JSON, ASCII only, without the quotes
    from _pypyjson import raw_encode_basestring_ascii as _escape_ascii
except ImportError:  # CPython: json's, with the quotes taken off

    def _escape_ascii(text: str) -> str:
        return json.encoder.encode_basestring_ascii(text)[1:-1]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf - inf is nan (text of digits is never nan)
        raise ValueError(f"number {text[:20]} is too large for a float")
    return value


# One decoder for every call: json.loads() with any keyword builds a new one.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)

#: what a text must hold for PyPy's parser to make a float that is not finite
#: of it (NaN, the infinities, a number over 1.8e308, written with an exponent
#: or with more than 308 digits): such a text goes to _DECODER, which refuses it
_MAYBE_NOT_FINITE = re.compile(r"NaN|Infinity|[0-9][eE]|[0-9]{309}")


if orjson is not None:
    _OR_DUMPS: Any = orjson.dumps
    _OR_LOADS: Any = orjson.loads
    # Whatever orjson would write in its own way goes to the default() it is
    # not given (so it raises, and json takes over): dataclasses, datetimes,
    # subclasses of str/int/dict/list.
    _OR_OPTIONS = (
        orjson.OPT_SORT_KEYS
        | orjson.OPT_PASSTHROUGH_DATACLASS
        | orjson.OPT_PASSTHROUGH_DATETIME
        | orjson.OPT_PASSTHROUGH_SUBCLASS
    )
else:  # pragma: no cover - the speedups extra is optional
    _OR_DUMPS = _OR_LOADS = None
    _OR_OPTIONS = 0
#: orjson's errors derive from these
_OR_ERRORS = (TypeError, ValueError)
#: an exponent orjson writes with one digit where repr() (json) writes two: e-7, e-07
_SHORT_EXPONENT = re.compile(r"e-[0-9](?![0-9])")
# Where an integer may not fit in 64 bits (orjson takes -2**63 .. 2**64-1, and
# -2**63-1 has 19 digits): a run of 19 digits, looked for by
# mapping digits to "0" and everything else to " " (much quicker than a regex).
_DIGITS_ONLY = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_LONG_RUN = b"0" * 19


def default_json_dumps(data: Any) -> str:
    """Serialise ``data`` to compact JSON with sorted keys.

    Raises:
        TypeError: ``data`` holds a value JSON cannot represent.
        ValueError: ``data`` holds a NaN or infinite float.
    """
    if _OR_DUMPS is not None:
        try:
            out = _OR_DUMPS(data, option=_OR_OPTIONS)
        except _OR_ERRORS:
            pass
        else:
            # (str, not bytes, for the checks: "x in bytes" first tries x as an int)
            text = out.decode("ascii") if out.isascii() else ""
            if (
                text
                and "null" not in text
                and "\x7f" not in text  # json escapes DEL, orjson does not
                and "0.0000" not in text  # orjson's 0.00001 is json's 1e-05
                and ("e-" not in text or _SHORT_EXPONENT.search(text) is None)
            ):
                return text
    elif PYPY:
        parts: list[str] = []
        try:
            if _write_plain(data, parts):
                return "".join(parts)
        except RecursionError:
            pass  # (a circle, or deep: json says which)
    return _ENCODER.encode(data)


def default_json_loads(s: str | bytes) -> Any:
    """Parse JSON text.

    Raises:
        ValueError: ``s`` is not valid JSON (``NaN`` and ``Infinity`` included).
    """
    value: Any = _NOTHING
    if _OR_LOADS is not None:
        raw = s.encode("utf-8", "surrogatepass") if isinstance(s, str) else bytes(s)
        if raw.translate(_DIGITS_ONLY).find(_LONG_RUN) < 0:
            try:
                value = _OR_LOADS(s)
            except _OR_ERRORS:
                pass
    if value is _NOTHING:
        if isinstance(s, (bytes, bytearray)):
            s = s.decode("utf-8")
        try:
            if _pypy_loads is not None and _MAYBE_NOT_FINITE.search(s) is None:
                # PyPy's parser, about seven times quicker than _DECODER's
                # Python scanner there; it reads numbers and constants as
                # json.loads does, so only texts that could hold a number
                # _DECODER refuses are left to it. (A text it refuses is
                # parsed again by _DECODER, for json's own error message.)
                try:
                    value = _pypy_loads(s, json.JSONDecodeError)
                except ValueError:
                    value = _DECODER.decode(s)
            else:
                value = _DECODER.decode(s)
        except RecursionError:
            raise ValueError("arrays or objects nested too deeply") from None
    # A text with few brackets cannot nest deeply: most values skip the walk.
    if len(s) > MAX_DEPTH and _brackets(s) > MAX_DEPTH and _too_deep(value):
        raise ValueError(f"arrays or objects nested more than {MAX_DEPTH} deep")
    return value


def _brackets(s: str | bytes) -> int:
    if isinstance(s, str):
        return s.count("[") + s.count("{")
    return s.count(b"[") + s.count(b"{")


_NOTHING: Any = object()


def _too_deep(value: Any) -> bool:
    """Whether ``value`` (as JSON decodes it) nests lists and dicts past :data:`MAX_DEPTH`.

    Level by level, in comprehensions: a value of millions of small lists is
    walked in a fraction of the time its decoding took.
    """
    level = [value]
    for _ in range(MAX_DEPTH):
        level = [
            child
            for item in level
            if type(item) is list or type(item) is dict
            for child in (item.values() if type(item) is dict else item)
            if type(child) is list or type(child) is dict
        ]
        if not level:
            return False
    return True
