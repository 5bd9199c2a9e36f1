from socketio import packet


def test_roundtrip_event():
    wire = '5:1+:/chat:{"args":["hi"],"name":"say"}'
    assert packet.encode(packet.decode(wire)) == '5:1+:/chat:{"args":["hi"],"name":"say"}'
