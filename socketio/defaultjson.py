"""The JSON functions used when the application supplies none.

Output is compact (no spaces after separators) with sorted keys, so the same
value always encodes to the same text. :class:`decimal.Decimal` values are
written as JSON numbers. Only standard JSON is written and read: ``NaN`` and
the infinities (which :mod:`json` allows by default, but which JavaScript's
``JSON.parse`` rejects) are refused both ways.
"""

from __future__ import annotations

import decimal
import json
from typing import Any

__all__ = ["DecimalEncoder", "default_json_dumps", "default_json_loads"]


class DecimalEncoder(json.JSONEncoder):
    """A :class:`json.JSONEncoder` that writes :class:`~decimal.Decimal` as a number.

    Integral decimals become JSON integers exactly; others go through ``float``
    (as the original library did), which keeps 17 significant digits.
    """

    def default(self, o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            if not o.is_finite():
                raise TypeError(f"Decimal {o} has no JSON representation")
            if o == o.to_integral_value():
                return int(o)
            return float(o)
        return super().default(o)


_ENCODER = DecimalEncoder(separators=(",", ":"), sort_keys=True, allow_nan=False)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every call: json.loads() with any keyword builds a new one.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def default_json_dumps(data: Any) -> str:
    """Serialise ``data`` to compact JSON with sorted keys.

    Raises:
        TypeError: ``data`` holds a value JSON cannot represent.
        ValueError: ``data`` holds a NaN or infinite float.
    """
    return _ENCODER.encode(data)


def default_json_loads(s: str | bytes) -> Any:
    """Parse JSON text.

    Raises:
        ValueError: ``s`` is not valid JSON (``NaN`` and ``Infinity`` included).
    """
    if isinstance(s, (bytes, bytearray)):
        s = s.decode("utf-8")
    return _DECODER.decode(s)
