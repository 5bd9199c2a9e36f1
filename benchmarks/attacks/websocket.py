"""Websocket attacks: fragment floods, a ping flood, a heartbeat flood, a trickle, a big message.

    .venv/bin/python -m benchmarks.attacks --only websocket [--quick]
    .venv/bin/python -m benchmarks.attacks.websocket [--quick]

Each against a fresh server (:mod:`benchmarks.attacks.app`, default
settings: ``max_message_size`` 10 MiB, ``max_message_frames`` 1,024), with
the prober (a good client's echo with ack every 20 ms) measured first for a
few seconds without the attack, then during it, in the same run. The
attacker runs in a process of its own (so it takes no interpreter time
from the prober), as fast as the server takes its bytes:

- **empty fragments**: a text frame that does not end the message, then
  empty continuation frames; connecting again whenever the server closes
  the connection.
- **1-byte fragments**: the same with continuation frames of one byte.
- **ping flood**: 125-byte pings, never reading the pongs.
- **heartbeat flood**: ``2::`` text frames (9 bytes each).
- **trickle**: one frame announcing 10 MB, sent 3 bytes per TCP segment
  (``TCP_NODELAY``); measured: the server's memory growth per byte sent.
- **big message, then idle**: 10 sessions (4 with ``--quick``) each send
  one 10 MB event and then wait; measured: what the server keeps per
  session once they are idle.

Measured for each: the server's resident memory growth (its peak during
the attack, against just before it) and the prober's round trip (p50 / p99).
"""

from __future__ import annotations

import multiprocessing
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.attacks.common import AttackServer, Prober, latency_text, row
from tests.client09.raw import PlainWebSocket
from tests.wsframes import ZERO_MASK, client_frame

MIB = 1 << 20


def _connect(port: int) -> socket.socket:
    """A websocket (handshake, upgrade, ``1::`` read) on a plain socket, Nagle off."""
    return PlainWebSocket(port, nodelay=True).sock


def _flood(port: int, first: bytes, blob: bytes, seconds: float, sent: Any) -> None:
    """Send ``first`` then ``blob`` again and again until ``seconds`` pass.

    It connects again whenever the server closes. Nothing the server sends is read.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sock = _connect(port)
        except OSError:
            time.sleep(0.05)
            continue
        sock.settimeout(0.5)
        data = first + blob
        try:
            while time.monotonic() < deadline:
                try:
                    n = sock.send(data)
                except TimeoutError:
                    continue
                sent.value += n
                data = data[n:] or blob
        except OSError:
            pass
        finally:
            sock.close()


def _trickle(port: int, frame: bytes, seconds: float, sent: Any) -> None:
    """Send ``frame`` 3 bytes per TCP segment until ``seconds`` pass (never finishing it)."""
    sock = _connect(port)
    deadline = time.monotonic() + seconds
    at = 0
    try:
        while time.monotonic() < deadline and at < len(frame) - 1:
            at += sock.send(frame[at : at + 3])
            sent.value = at
        time.sleep(max(0.0, deadline - time.monotonic()))
    finally:
        sock.close()


def _during(
    server: AttackServer, target: Callable[..., None], args: tuple, seconds: float
) -> tuple[float, dict[str, Any], int]:
    """Run ``target(port, *args, seconds, sent)`` in a process of its own, with the prober.

    Returns the server's peak memory growth during the attack (MiB, sampled
    every 0.1 s), the prober's summary and the bytes the attacker sent.
    """
    sent = multiprocessing.Value("q", 0, lock=False)
    before = peak = server.rss_mib()
    attacker = multiprocessing.Process(
        target=target, args=(server.port, *args, seconds, sent), daemon=True
    )
    with Prober(server.port) as prober:
        attacker.start()
        deadline = time.monotonic() + seconds + 30
        while attacker.is_alive() and time.monotonic() < deadline:
            peak = max(peak, server.rss_mib())
            attacker.join(0.1)
    if attacker.is_alive():
        attacker.kill()
    return peak - before, prober.summary(), int(sent.value)


def _quiet(server: AttackServer, seconds: float) -> dict[str, Any]:
    with Prober(server.port) as prober:
        time.sleep(seconds)
    return prober.summary()


FLOODS = [
    (
        "empty fragments",
        client_frame(b"5:::", fin=False, mask=ZERO_MASK),
        client_frame(b"", opcode=0, fin=False, mask=ZERO_MASK) * 10_000,
    ),
    (
        "1-byte fragments",
        client_frame(b"5:::", fin=False, mask=ZERO_MASK),
        client_frame(b"x", opcode=0, fin=False, mask=ZERO_MASK) * 10_000,
    ),
    (
        "ping flood, pongs never read",
        b"",
        client_frame(b"p" * 125, opcode=9, mask=ZERO_MASK) * 1_000,
    ),
    ("heartbeat flood", b"", client_frame(b"2::", mask=ZERO_MASK) * 20_000),
]


def floods(quick: bool) -> list[dict[str, str]]:
    """Each flood of :data:`FLOODS`: the server's memory growth and the prober's round trip."""
    seconds = 3.0 if quick else 8.0
    rows = []
    for name, first, blob in FLOODS:
        with AttackServer() as server:
            baseline = _quiet(server, 2.0 if quick else 4.0)
            grown, attacked, sent = _during(server, _flood, (first, blob), seconds)
            log_lines = server.log_text().count("\n")
        rows.append(
            row(
                f"{name} ({sent / MIB:.0f} MiB in {seconds:.0f} s)",
                "prober p50 / p99",
                latency_text(attacked),
                latency_text(baseline),
                "answered in ms",
            )
        )
        rows.append(row(name, "server RSS peak growth", f"{grown:+.1f} MiB", "0", "bounded"))
        rows.append(row(name, "server log lines", str(log_lines), "", "rate limited"))
    return rows


def trickle(quick: bool) -> list[dict[str, str]]:
    """A 10 MB frame sent 3 bytes per segment: the server's memory growth per byte sent."""
    seconds = 4.0 if quick else 10.0
    frame = client_frame(b"3:::" + b"t" * (10 * MIB - 4), mask=ZERO_MASK)
    with AttackServer() as server:
        baseline = _quiet(server, 2.0 if quick else 4.0)
        grown, attacked, sent = _during(server, _trickle, (frame,), seconds)
    per_byte = grown * MIB / sent if sent else 0.0
    return [
        row(
            f"one frame, 3 bytes per segment ({sent / 1000:.0f} kB sent)",
            "server RSS growth per byte sent",
            f"{per_byte:.1f} B ({grown:+.1f} MiB)",
            "",
            "about 1 B",
        ),
        row(
            "one frame, 3 bytes per segment",
            "prober p50 / p99",
            latency_text(attacked),
            latency_text(baseline),
            "answered in ms",
        ),
    ]


def big_then_idle(quick: bool) -> list[dict[str, str]]:
    """Sessions that send one 10 MB message, then idle: the memory kept per session."""
    sessions = 4 if quick else 10
    size = 10 * MIB - 100
    message = client_frame(
        b'5:::{"name":"echo","args":["' + b"m" * (size - 40) + b'"]}', mask=ZERO_MASK
    )
    with AttackServer() as server:
        socks = [_connect(server.port) for _ in range(sessions)]
        time.sleep(0.5)
        before = server.rss_mib()
        for sock in socks:
            sock.sendall(message)
        time.sleep(0.5)
        # each session answers a round trip: its big message was handled
        for n, sock in enumerate(socks, 1):
            sock.sendall(
                client_frame(b'5:%d+::{"name":"echo","args":[%d]}' % (n, n), mask=ZERO_MASK)
            )
            answer = b""
            while b"6:::%d+" % n not in answer:
                answer += sock.recv(65536)
        time.sleep(1.0)
        kept = server.rss_mib() - before
        for sock in socks:
            sock.close()
    return [
        row(
            f"{sessions} sessions send 10 MB each, then idle",
            "server RSS kept per idle session",
            f"{kept / sessions:+.2f} MiB",
            "0",
            "independent of what was sent",
        )
    ]


def run(quick: bool = False) -> list[dict[str, str]]:
    """Every websocket attack; one or more table rows each."""
    return floods(quick) + trickle(quick) + big_then_idle(quick)


if __name__ == "__main__":
    from benchmarks.attacks.__main__ import table

    print(table(run(quick="--quick" in sys.argv)))
