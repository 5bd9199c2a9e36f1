"""Session ids: random, and when signed, verifiable only with the secret and while fresh."""

from __future__ import annotations

import re

from socketio.sessionid import new_sessid, verify_sessid

SECRET = b"s" * 32


def test_unsigned_ids_are_128_random_bits_in_hex():
    ids = {new_sessid() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", sid) for sid in ids)


def test_signed_ids_verify_with_their_secret_while_fresh():
    sid = new_sessid(SECRET, now=1_000_000)
    assert re.fullmatch(r"[0-9a-f]{56}", sid)
    assert verify_sessid(sid, SECRET, now=1_000_000, max_age=60)
    assert verify_sessid(sid, SECRET, now=1_000_060, max_age=60)
    assert not verify_sessid(sid, SECRET, now=1_000_061, max_age=60)
    assert not verify_sessid(sid, b"another secret", now=1_000_000, max_age=60)
    assert not verify_sessid(sid, None, now=1_000_000, max_age=60)
    assert verify_sessid(sid, SECRET.decode(), now=1_000_000, max_age=60)


def test_tampered_or_malformed_ids_do_not_verify():
    sid = new_sessid(SECRET, now=50)
    flipped = sid[:-1] + ("0" if sid[-1] != "0" else "1")
    for bad in (flipped, sid[:-2], sid + "0", "x" * 56, "", new_sessid()):
        assert not verify_sessid(bad, SECRET, now=50, max_age=60)
    # Moving the timestamp breaks the signature.
    older = sid[:32] + "00000000" + sid[40:]
    assert not verify_sessid(older, SECRET, now=50, max_age=10**9)


def test_a_server_adopts_a_genuine_fresh_id_once_and_never_a_forged_one():
    from socketio.server import SocketIOServer

    def app(environ, start_response):
        return []

    sibling = SocketIOServer(("127.0.0.1", 0), app, policy_server=False, session_secret=SECRET)
    server = SocketIOServer(("127.0.0.1", 0), app, policy_server=False, session_secret=SECRET)
    handshaken = sibling.get_socket()
    adopted = server.adopt_socket(handshaken.sessid)
    assert adopted is not None
    assert adopted.sessid == handshaken.sessid
    assert server.sockets[handshaken.sessid] is adopted
    assert adopted.connected
    assert server.adopt_socket(handshaken.sessid) is None  # already served here
    adopted.kill(detach=True)
    assert server.adopt_socket(handshaken.sessid) is None  # never reused
    assert server.adopt_socket("0" * 56) is None
    unsigned = SocketIOServer(("127.0.0.1", 0), app, policy_server=False)
    assert unsigned.adopt_socket(sibling.get_socket().sessid) is None
    for s in (sibling, server, unsigned):
        for sock in list(s.sockets.values()):
            sock.kill(detach=True)


def test_a_signed_id_names_its_owner_and_only_a_genuine_one_is_believed():
    from socketio.sessionid import sessid_owner

    owner = "unix:/run/socketio/worker-1.sock"
    sid = new_sessid(SECRET, now=1_000, owner=owner)
    assert re.fullmatch(r"[0-9a-f]{40}[A-Za-z0-9_-]+[0-9a-f]{16}", sid)
    assert sessid_owner(sid, SECRET) == owner
    assert verify_sessid(sid, SECRET, now=1_000, max_age=60)
    # no age limit on the owner: a session lives as long as its client keeps it alive
    assert not verify_sessid(sid, SECRET, now=10_000, max_age=60)
    assert sessid_owner(sid, SECRET) == owner
    # another secret, an edited owner, an unsigned id or one that names none: no owner
    assert sessid_owner(sid, b"another secret") is None
    other = new_sessid(SECRET, now=1_000, owner="127.0.0.1:9000")
    spliced = sid[:40] + other[40:-16] + sid[-16:]
    assert sessid_owner(spliced, SECRET) is None
    assert sessid_owner(new_sessid(), SECRET) is None
    assert sessid_owner(new_sessid(SECRET, now=1_000), SECRET) is None


def test_an_owner_too_long_for_an_id_is_refused():
    import pytest

    from socketio.sessionid import MAX_OWNER_BYTES

    new_sessid(SECRET, owner="x" * MAX_OWNER_BYTES)
    with pytest.raises(ValueError, match="longer than"):
        new_sessid(SECRET, owner="x" * (MAX_OWNER_BYTES + 1))


def test_a_forward_signature_binds_the_session_and_the_client():
    from socketio.sessionid import forward_signature, verify_forward_signature

    sig = forward_signature(SECRET, "abc", "10.0.0.1")
    assert verify_forward_signature(SECRET, "abc", "10.0.0.1", sig)
    assert not verify_forward_signature(SECRET, "abd", "10.0.0.1", sig)
    assert not verify_forward_signature(SECRET, "abc", "10.0.0.2", sig)
    assert not verify_forward_signature(b"other", "abc", "10.0.0.1", sig)
    assert not verify_forward_signature(SECRET, "abc", "10.0.0.1\u00e9", sig)
