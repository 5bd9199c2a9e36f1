"""Encode and decode single Socket.IO 0.9 packets.

A packet on the wire reads ``<type>:<id>[+]:<endpoint>[:<data>]``; in Python it
is a dict, the format the original gevent-socketio used, for example::

    >>> decode('5:2+:/chat:{"name":"say","args":["hi"]}')
    {'type': 'event', 'endpoint': '/chat', 'id': 2, 'ack': 'data', 'name': 'say', 'args': ['hi']}
    >>> encode({'type': 'ack', 'ackId': 2, 'args': ['ok'], 'endpoint': '/chat'})
    '6::/chat:2+["ok"]'

This module is pure: it does no I/O and imports nothing but the standard library.
Every malformed input raises :class:`~socketio.exceptions.PacketError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .defaultjson import default_json_dumps, default_json_loads
from .exceptions import PacketError

__all__ = [
    "ADVICES_VALUES",
    "ERROR_ADVICES",
    "ERROR_REASONS",
    "MSG_TYPES",
    "MSG_VALUES",
    "REASONS_VALUES",
    "PacketError",
    "decode",
    "encode",
]

JsonDumps = Callable[[Any], str]
JsonLoads = Callable[[str], Any]

MSG_TYPES: dict[str, int] = {
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
MSG_VALUES: dict[int, str] = {v: k for k, v in MSG_TYPES.items()}

ERROR_REASONS: dict[str, int] = {
    "transport not supported": 0,
    "client not handshaken": 1,
    "unauthorized": 2,
}
REASONS_VALUES: dict[int, str] = {v: k for k, v in ERROR_REASONS.items()}

ERROR_ADVICES: dict[str, int] = {"reconnect": 0}
ADVICES_VALUES: dict[int, str] = {v: k for k, v in ERROR_ADVICES.items()}

_TYPE_CHARS = {str(v): k for k, v in MSG_TYPES.items()}
_ACK_RE = re.compile(r"([0-9]+)(?:\+(.*))?\Z", re.DOTALL)
_NUMBER_RE = re.compile(r"[0-9]+\Z")
_SURROGATE = re.compile("[\ud800-\udfff]")


# -- encoding ---------------------------------------------------------------


def _dumps(json_dumps: JsonDumps, value: Any, what: str) -> str:
    try:
        return json_dumps(value)
    except (TypeError, ValueError) as exc:
        raise PacketError(f"Cannot encode {what} as JSON: {exc}") from exc
    except RecursionError as exc:
        raise PacketError(f"Cannot encode {what} as JSON: nested too deeply") from exc


def _wire_int(value: Any, what: str) -> int:
    """``value`` as a non-negative int, the only ids the wire can carry."""
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise PacketError(f"Invalid {what}: {value!r}") from exc
    if number < 0:
        raise PacketError(f"Invalid {what}: {value!r}")
    return number


def _digits_int(text: str, what: str) -> int:
    """Convert a run of ASCII digits.

    Very long runs (past Python's int conversion limit) are a PacketError, not
    a bare ValueError.
    """
    try:
        return int(text)
    except ValueError as exc:
        raise PacketError(f"Invalid {what}: {text[:20]!r}...") from exc


def _enc_none(pkt: dict[str, Any], json_dumps: JsonDumps) -> str | None:
    return None


def _utf8_safe(text: str) -> str:
    r"""``text`` with any lone surrogate replaced by U+FFFD (as a browser sends it).

    Text written as is (a message's data, a query) must encode to UTF-8 for
    the transport; a surrogate gets into a ``str`` from JSON's ``\ud800``
    (a client may send one, and an application send it on).
    """
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub("\ufffd", text)


def _enc_connect(pkt: dict[str, Any], json_dumps: JsonDumps) -> str | None:
    qs = pkt.get("qs")
    return _utf8_safe(qs) if qs else None


def _enc_message(pkt: dict[str, Any], json_dumps: JsonDumps) -> str | None:
    data = pkt.get("data", "")
    if not isinstance(data, str):
        raise PacketError(f"message data must be a str, not {type(data).__name__}")
    return _utf8_safe(data) or None


def _enc_json(pkt: dict[str, Any], json_dumps: JsonDumps) -> str | None:
    if "data" not in pkt:
        raise PacketError("json packet has no 'data'")
    return _dumps(json_dumps, pkt["data"], "json data")


def _enc_event(pkt: dict[str, Any], json_dumps: JsonDumps) -> str | None:
    name = pkt.get("name")
    if not isinstance(name, str):
        raise PacketError("event packet needs a str 'name'")
    body: dict[str, Any] = {"name": name}
    args = pkt.get("args")
    if args:
        body["args"] = list(args)
    return _dumps(json_dumps, body, f"the arguments of event {name!r}")


def _enc_ack(pkt: dict[str, Any], json_dumps: JsonDumps) -> str | None:
    if "ackId" not in pkt:
        raise PacketError("ack packet needs an integer 'ackId'")
    ack_id = _wire_int(pkt["ackId"], "ackId")
    args = pkt.get("args")
    if args:
        return f"{ack_id}+{_dumps(json_dumps, list(args), 'ack arguments')}"
    return str(ack_id)


def _enc_error(pkt: dict[str, Any], json_dumps: JsonDumps) -> str | None:
    reason = pkt.get("reason") or ""
    advice = pkt.get("advice") or ""
    try:
        text = str(ERROR_REASONS[reason]) if reason else ""
        if advice:
            text += "+" + str(ERROR_ADVICES[advice])
    except KeyError as exc:
        raise PacketError(f"Unknown error reason or advice: {exc.args[0]!r}") from exc
    # Always with its data field, even empty ('7:::'), as the original wrote it.
    return text


_ENCODERS: dict[str, Callable[[dict[str, Any], JsonDumps], str | None]] = {
    "disconnect": _enc_none,
    "connect": _enc_connect,
    "heartbeat": _enc_none,
    "message": _enc_message,
    "json": _enc_json,
    "event": _enc_event,
    "ack": _enc_ack,
    "error": _enc_error,
    "noop": _enc_none,
}


def encode(data: dict[str, Any], json_dumps: JsonDumps = default_json_dumps) -> str:
    """Encode a packet dict into its wire string.

    Args:
        data: a packet dict (``type`` plus the keys of that type).
        json_dumps: the JSON serialiser for ``json``, ``event`` and ``ack`` data.

    Returns:
        The packet as text, e.g. ``'5:1+::{"name":"x"}'``.

    Raises:
        PacketError: the dict is not a valid packet, or its data is not JSON-serialisable.
    """
    try:
        ptype = data["type"]
    except (KeyError, TypeError) as exc:
        raise PacketError("packet has no 'type'") from exc
    encoder = _ENCODERS.get(ptype)
    if encoder is None:
        raise PacketError(f"Unknown message type: {ptype}")
    endpoint = data.get("endpoint") or ""
    if not isinstance(endpoint, str) or ":" in endpoint:
        raise PacketError(f"Invalid endpoint: {endpoint!r}")
    msg_id = data.get("id")
    if msg_id is None or msg_id == "":
        id_part = ""
    else:
        id_part = str(_wire_int(msg_id, "message id"))
        if data.get("ack") == "data":
            id_part += "+"
    payload = encoder(data, json_dumps)
    head = f"{MSG_TYPES[ptype]}:{id_part}:{endpoint}"
    return head if payload is None else f"{head}:{payload}"


# -- decoding ---------------------------------------------------------------


def _loads(json_loads: JsonLoads, text: str, what: str) -> Any:
    try:
        return json_loads(text)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise PacketError(f"Invalid JSON in {what}: {exc}") from exc
    except RecursionError as exc:
        raise PacketError(f"JSON in {what} is nested too deeply") from exc


def _dec_none(pkt: dict[str, Any], data: str, json_loads: JsonLoads) -> None:
    pass


def _dec_connect(pkt: dict[str, Any], data: str, json_loads: JsonLoads) -> None:
    pkt["qs"] = data


def _dec_message(pkt: dict[str, Any], data: str, json_loads: JsonLoads) -> None:
    pkt["data"] = data


def _dec_json(pkt: dict[str, Any], data: str, json_loads: JsonLoads) -> None:
    pkt["data"] = _loads(json_loads, data, "json packet")


def _dec_event(pkt: dict[str, Any], data: str, json_loads: JsonLoads) -> None:
    # Lenient, as the original: a missing or unparsable body leaves the event
    # without a name; the namespace then reports it to the client.
    try:
        body = json_loads(data)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        pkt["args"] = []
        return
    args = body.get("args")
    if args is None:
        args = []
    elif not isinstance(args, list):
        raise PacketError(f"event args must be a list, not {type(args).__name__}")
    pkt["name"] = body["name"]
    pkt["args"] = args


def _dec_ack(pkt: dict[str, Any], data: str, json_loads: JsonLoads) -> None:
    match = _ACK_RE.match(data)
    if match is None:
        raise PacketError(f"Invalid ack data: {data[:40]!r}")
    pkt["ackId"] = _digits_int(match.group(1), "ack id")
    raw_args = match.group(2)
    if not raw_args:
        pkt["args"] = []
        return
    args = _loads(json_loads, raw_args, "ack packet")
    if not isinstance(args, list):
        raise PacketError(f"ack args must be a list, not {type(args).__name__}")
    pkt["args"] = args


def _dec_error(pkt: dict[str, Any], data: str, json_loads: JsonLoads) -> None:
    reason, _, advice = data.partition("+")
    pkt["reason"] = _lookup(REASONS_VALUES, reason, "error reason")
    pkt["advice"] = _lookup(ADVICES_VALUES, advice, "error advice")


def _lookup(table: dict[int, str], text: str, what: str) -> str:
    if text == "":
        return ""
    if _NUMBER_RE.match(text) is None or _digits_int(text, what) not in table:
        raise PacketError(f"Unknown {what}: {text[:20]!r}")
    return table[int(text)]


_DECODERS: dict[str, Callable[[dict[str, Any], str, JsonLoads], None]] = {
    "disconnect": _dec_none,
    "connect": _dec_connect,
    "heartbeat": _dec_none,
    "message": _dec_message,
    "json": _dec_json,
    "event": _dec_event,
    "ack": _dec_ack,
    "error": _dec_error,
    "noop": _dec_none,
}


def decode(rawstr: str | bytes, json_loads: JsonLoads = default_json_loads) -> dict[str, Any]:
    """Decode one wire packet into a packet dict.

    Args:
        rawstr: the packet text (``bytes`` are read as UTF-8).
        json_loads: the JSON parser for ``json``, ``event`` and ``ack`` data.

    Returns:
        A dict with ``type`` and ``endpoint``, ``id`` and ``ack`` when the
        packet has an id, and the keys of its type (see the module docstring).

    Raises:
        PacketError: the text is not a valid packet. Nothing else escapes.
    """
    if isinstance(rawstr, (bytes, bytearray)):
        try:
            rawstr = bytes(rawstr).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PacketError(f"Packet is not valid UTF-8: {exc}") from exc
    elif not isinstance(rawstr, str):
        raise PacketError(f"Packet must be str, not {type(rawstr).__name__}")
    parts = rawstr.split(":", 3)
    if len(parts) < 3:
        raise PacketError(f"Malformed packet: {rawstr[:40]!r}")
    type_char, raw_id, endpoint = parts[0], parts[1], parts[2]
    ptype = _TYPE_CHARS.get(type_char)
    if ptype is None:
        raise PacketError(f"Unknown message type: {type_char[:20]}")
    pkt: dict[str, Any] = {"type": ptype, "endpoint": endpoint}
    if raw_id:
        wants_data = raw_id[-1] == "+"
        digits = raw_id[:-1] if wants_data else raw_id
        if not (digits.isascii() and digits.isdigit()):  # [0-9]+, no other digits
            raise PacketError(f"Invalid message id: {raw_id[:20]!r}")
        pkt["id"] = _digits_int(digits, "message id")
        pkt["ack"] = "data" if wants_data else True
    _DECODERS[ptype](pkt, parts[3] if len(parts) > 3 else "", json_loads)
    return pkt
