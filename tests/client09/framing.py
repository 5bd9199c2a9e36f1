r"""Payload framing, packets, JSONP calls and htmlfile scripts of Socket.IO 0.9.

A payload frames each packet as ``\ufffd<length>\ufffd<packet>``; the length
is the JavaScript string length of the packet, i.e. its UTF-16 code units, so
a character outside the BMP (U+1F600) counts 2.
"""

from __future__ import annotations

import json
import re
from typing import Any

FRAME = "\ufffd"

JSONP_RE = re.compile(r'io\.j\[(\d+)\]\(("(?:[^"\\]|\\.)*")\);\Z', re.DOTALL)
SCRIPT_RE = re.compile(r"<script>_\((\"(?:[^\"\\]|\\.)*\")\);</script>")


def utf16_len(text: str) -> int:
    """The JavaScript length of ``text``: its UTF-16 code units."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def frame(*packets: str) -> str:
    r"""Frame packets as ``\ufffd<len>\ufffd<packet>...`` (even a single one)."""
    return "".join(f"{FRAME}{utf16_len(p)}{FRAME}{p}" for p in packets)


def unframe(body: str) -> list[str]:
    """Split a polling body into packets (a bare body is one packet)."""
    if not body.startswith(FRAME):
        return [body]
    packets = []
    pos = 0
    while pos < len(body):
        assert body[pos] == FRAME, body
        sep = body.index(FRAME, pos + 1)
        units = int(body[pos + 1 : sep])
        end = sep + 1
        while units > 0:
            units -= 2 if ord(body[end]) > 0xFFFF else 1
            end += 1
        assert units == 0, f"a frame length ends inside a surrogate pair: {body!r}"
        packets.append(body[sep + 1 : end])
        pos = end
    return packets


def event(endpoint: str, name: str, *args: Any, msgid: int | None = None) -> str:
    """An event packet, asking for an ack with data when ``msgid`` is given."""
    ident = f"{msgid}+" if msgid else ""
    return f"5:{ident}:{endpoint}:" + json.dumps({"name": name, "args": list(args)})


def parse(raw: str) -> dict[str, Any]:
    """Split a packet into ``type``, ``id``, ``endpoint`` and ``data`` (JSON decoded for 5 and 6)."""
    ptype, msgid, endpoint, *rest = raw.split(":", 3)
    data: Any = rest[0] if rest else ""
    if ptype == "5":
        data = json.loads(data)
    elif ptype == "6":
        ack_id, _, args = data.partition("+")
        data = {"ackId": int(ack_id), "args": json.loads(args) if args else []}
    return {"type": int(ptype), "id": msgid, "endpoint": endpoint, "data": data}


def jsonp_unwrap(text: str) -> str:
    """The payload carried by a JSONP answer ``io.j[<index>]("<payload>");``."""
    match = JSONP_RE.match(text)
    assert match, text
    payload: str = json.loads(match.group(2))
    return payload


def htmlfile_payloads(text: str) -> list[str]:
    """The payloads carried by the ``<script>_("...");</script>`` elements of ``text``."""
    return [json.loads(literal) for literal in SCRIPT_RE.findall(text)]
