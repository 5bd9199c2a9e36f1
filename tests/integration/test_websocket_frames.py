"""Frame-level behaviour of the websocket transport (our layer over gevent-websocket)."""

from __future__ import annotations

import json
import struct

import requests
import websocket
from websocket import ABNF


def _open(live_server):
    sid = requests.get(live_server.url + "/socket.io/1/", timeout=5).text.split(":")[0]
    ws = websocket.create_connection(
        live_server.url.replace("http", "ws") + f"/socket.io/1/websocket/{sid}", timeout=5
    )
    assert ws.recv() == "1::"
    return ws


def test_fragmented_masked_text_message_is_reassembled(live_server):
    ws = _open(live_server)
    text = '5:1+::{"name":"echo","args":["' + "é😀x" * 5000 + '"]}'
    data = text.encode("utf-8")
    parts = [data[i : i + 7001] for i in range(0, len(data), 7001)]  # splits characters
    for i, part in enumerate(parts):
        opcode = ABNF.OPCODE_TEXT if i == 0 else ABNF.OPCODE_CONT
        ws.send_frame(ABNF.create_frame(part, opcode, fin=int(i == len(parts) - 1)))
    reply = ws.recv()
    assert reply.startswith("6:::1+")
    assert json.loads(reply[len("6:::1+") :]) == ["é😀x" * 5000]
    ws.close()


def test_invalid_utf8_closes_with_1007_and_the_server_keeps_serving(live_server):
    ws = _open(live_server)
    ws.send(b"5:::\xff\xfe", opcode=ABNF.OPCODE_TEXT)
    opcode, payload = ws.recv_data(control_frame=True)
    assert opcode == ABNF.OPCODE_CLOSE
    assert struct.unpack("!H", payload[:2])[0] == 1007
    other = _open(live_server)
    other.send('5:1+::{"name":"echo","args":["ok"]}')
    assert other.recv() == '6:::1+["ok"]'
    other.close()
