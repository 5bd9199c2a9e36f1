r"""Bodies of the polling transports: framing, JSONP and the streaming chunks.

Several packets share one HTTP body as ``\ufffd<length>\ufffd<packet>…``, where
``<length>`` is the packet's JavaScript string length (UTF-16 code units: a
character outside the Basic Multilingual Plane counts 2). A single packet may
travel bare, without framing.

This module is pure: functions over ``str``, no I/O. Malformed input raises
:class:`~socketio.exceptions.PayloadError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import parse_qs

from .exceptions import PayloadError

__all__ = [
    "FRAME",
    "MULTIPART_BOUNDARY",
    "decode_jsonp_form",
    "decode_payload",
    "encode_payload",
    "htmlfile_chunk",
    "htmlfile_preamble",
    "iter_payload",
    "js_length",
    "js_string",
    "jsonp_error",
    "jsonp_payload",
    "jsonp_wrap",
    "multipart_part",
]

FRAME = "\ufffd"
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_DIGITS = re.compile(r"[0-9]{1,10}")


def js_length(text: str) -> int:
    """Return the length of ``text`` as JavaScript counts it (UTF-16 code units)."""
    return len(text) + len(_ASTRAL.findall(text))


def encode_payload(packets: list[str]) -> str:
    r"""Frame encoded packets into one body.

    One packet is returned bare, as the 0.9 client and server do; several are
    each prefixed with ``\ufffd<length>\ufffd``. An empty list gives ``''``.
    """
    if len(packets) == 1:
        return packets[0]
    return "".join(f"{FRAME}{js_length(p)}{FRAME}{p}" for p in packets)


def _take_units(body: str, start: int, units: int) -> int:
    """Return the index in ``body`` that lies ``units`` UTF-16 code units after ``start``."""
    chunk = body[start : start + units]
    if _ASTRAL.search(chunk) is None:
        if len(chunk) < units:
            raise PayloadError("Payload frame length runs past the end of the body")
        return start + units
    # Astral characters count 2. Walk from one to the next, counting code
    # units, so that every code point of ``body`` is kept as it is (a round
    # trip through UTF-16 would merge two separate surrogate code points).
    end = start
    used = 0
    for match in _ASTRAL.finditer(body, start, start + units):
        astral = match.start()
        if used + (astral - end) >= units:
            break
        used += astral - end
        if used + 2 > units:
            raise PayloadError("Payload frame length splits a surrogate pair")
        used += 2
        end = astral + 1
    end += units - used
    if end > len(body):
        raise PayloadError("Payload frame length runs past the end of the body")
    return end


def decode_payload(body: str, max_packets: int | None = None) -> list[str]:
    """Split a polling body into encoded packets.

    Args:
        body: the body text; framed, or one bare packet.
        max_packets: refuse bodies holding more packets than this.

    Returns:
        The encoded packets, in order. An empty body gives ``[]``.

    Raises:
        PayloadError: the framing is malformed or holds too many packets.
    """
    return list(iter_payload(body, max_packets))


def iter_payload(body: str, max_packets: int | None = None) -> Iterator[str]:
    """The encoded packets of a polling body, one at a time (see :func:`decode_payload`).

    For a caller that lets other work run between packets of a large body:
    the error of a malformed frame comes when the iteration reaches it.

    Raises:
        PayloadError: as :func:`decode_payload`.
    """
    if not body:
        return
    if not body.startswith(FRAME):
        yield body
        return
    count = 0
    pos = 0
    size = len(body)
    # Without characters outside the BMP, code units are characters: UTF-16
    # tells at C speed, where searching each frame with a regular
    # expression costs a few milliseconds per megabyte.
    bmp_only = len(body.encode("utf-16-le", "surrogatepass")) == 2 * size
    while pos < size:
        if body[pos] != FRAME:
            raise PayloadError(f"Expected a frame marker at offset {pos}")
        match = _DIGITS.match(body, pos + 1)
        if match is None:
            raise PayloadError(f"Missing frame length at offset {pos}")
        sep = match.end()
        if sep >= size or body[sep] != FRAME:
            raise PayloadError(f"Frame length not closed at offset {sep}")
        start = sep + 1
        if bmp_only:
            end = start + int(match.group())
            if end > size:
                raise PayloadError("Payload frame length runs past the end of the body")
        else:
            end = _take_units(body, start, int(match.group()))
        count += 1
        if max_packets is not None and count > max_packets:
            raise PayloadError(f"Payload holds more than {max_packets} packets", status_hint=413)
        yield body[start:end]
        pos = end


def js_string(text: str) -> str:
    """Quote ``text`` as a JavaScript string literal safe inside HTML.

    The result is JSON (ASCII only, so U+2028/U+2029 are escaped) with ``<``,
    ``>`` and ``&`` escaped too, so ``</script>`` or ``<!--`` in the data
    cannot end or disturb an enclosing script element.
    """
    quoted = json.dumps(text, ensure_ascii=True)
    return quoted.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def jsonp_wrap(index: int, text: str) -> str:
    """Return ``io.j[<index>]("<text>");``, the JSONP form of a body."""
    return f"io.j[{int(index)}]({js_string(text)});"


def jsonp_payload(index: int, packets: list[str]) -> str:
    """Return the JSONP form of the body that carries ``packets`` (:func:`encode_payload`'s).

    Several packets are framed with the marker written as the character itself,
    as the reference server writes it (its ``JSON.stringify`` leaves non-ASCII
    alone), and each packet quoted as :func:`js_string` quotes it. Clients that
    split the script text on the marker before unescaping it (socketIO-client
    0.5) find the frames, and still get every packet intact.
    """
    if len(packets) == 1:
        return jsonp_wrap(index, packets[0])
    frames = "".join(f"{FRAME}{js_length(p)}{FRAME}{js_string(p)[1:-1]}" for p in packets)
    return f'io.j[{int(index)}]("{frames}");'


def jsonp_error(index: int, message: str) -> str:
    """Return ``io.j[<index>](new Error("<message>"));``, a refused JSONP handshake."""
    return f"io.j[{int(index)}](new Error({js_string(message)}));"


def decode_jsonp_form(body: str) -> str:
    """Extract the payload from a JSONP-polling POST body.

    The 0.9 client posts a form whose field ``d`` is the payload as a JSON
    string literal. A ``d`` that is not a JSON string is taken as the raw payload.

    Raises:
        PayloadError: the body has no ``d`` field.
    """
    try:
        fields = parse_qs(body, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:
        raise PayloadError(f"JSONP body is not a form: {exc}") from exc
    values = fields.get("d")
    if not values:
        raise PayloadError("JSONP body has no 'd' field")
    data = values[0]
    if data.startswith('"'):
        try:
            decoded = json.loads(data)
        except ValueError as exc:
            raise PayloadError(f"JSONP 'd' field is not a JSON string: {exc}") from exc
        if not isinstance(decoded, str):
            raise PayloadError("JSONP 'd' field is not a JSON string")
        return decoded
    return data


_HTMLFILE_HEAD = (
    "<html><body><script>var _ = function (msg) { parent.s._(msg, document); };</script>"
)


def htmlfile_preamble() -> str:
    """The opening of an htmlfile stream, padded past the 256 bytes IE waits for."""
    return _HTMLFILE_HEAD + " " * 174


def htmlfile_chunk(text: str) -> str:
    """One batch of packets on an htmlfile stream, as a script element."""
    return f"<script>_({js_string(text)});</script>"


MULTIPART_BOUNDARY = "socketio"


def multipart_part(text: str) -> str:
    """One part of an ``multipart/x-mixed-replace`` stream holding ``text``."""
    return f"Content-Type: text/plain; charset=UTF-8\r\n\r\n{text}\r\n--{MULTIPART_BOUNDARY}\r\n"
