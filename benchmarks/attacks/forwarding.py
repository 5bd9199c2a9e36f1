"""Attacks on polling without sticky routing: a hung owner, piles of misrouted held polls.

    .venv/bin/python -m benchmarks.attacks --only forwarding [--quick]
    .venv/bin/python -m benchmarks.attacks.forwarding [--quick]

Two servers (:mod:`benchmarks.attacks.app`) share a ``session_secret`` and
each has a unix ``forward_listener``; the sessions attacked are handshaken
with the first (the *owner*) and polled at the second (the *forwarding
process*), which forwards each request to the owner. Measured, each next to
the same figure without the attack, in the same run:

- the owner hung (``SIGSTOP``) while 200 misrouted polls (50 with
  ``--quick``) wait on it at the forwarding process: how long until each is
  answered (504 after ``poll_hold + forward_timeout``), what they hold
  there, and the round trip of a websocket client of the forwarding process
  meanwhile (the prober);
- 1,000 idle misrouted held polls (200 with ``--quick``): the forwarding
  process's memory and descriptors per poll, next to what a direct held
  poll costs its owner;
- twice ``max_connections`` misrouted held polls: how many are held, how many
  refused, and the forwarding process's memory and descriptors then.

Each row's log column counts the servers' tracebacks.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import statistics
import sys
import tempfile
import time
from typing import Any

from benchmarks.attacks.common import AttackServer, Prober, latency_text, row
from benchmarks.forwarding import SECRET, handshakes, held_phase, open_fds, poll_path, rss_bytes

#: poll_hold (polling_duration) and forward_timeout of the hung-owner attack
HOLD, FORWARD_TIMEOUT = 3.0, 2.0


def pair(directory: str, **config: Any) -> tuple[AttackServer, AttackServer]:
    """An owner and a forwarding process, started, with unix forward listeners in ``directory``."""
    servers = []
    for name in ("owner", "forwarder"):
        server = AttackServer(
            session_secret=SECRET, forward_listener=f"unix:{directory}/{name}.sock", **config
        )
        servers.append(server.start())
    return servers[0], servers[1]


def open_sessions(owner: AttackServer, count: int) -> list[str]:
    """``count`` sessions handshaken with ``owner`` and opened there (their first GET)."""
    sids = handshakes(owner.port, count)
    conn = socket.create_connection(("127.0.0.1", owner.port), timeout=10)
    with conn:
        for sid in sids:
            conn.sendall(f"GET {poll_path(sid)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            data = b""
            while not data.endswith(b"1::"):
                data += conn.recv(65536)
    return sids


def fire(port: int, sids: list[str]) -> list[tuple[socket.socket, float]]:
    """A held GET for each of ``sids`` to ``port``, each on its own connection; when each was sent."""
    sent = []
    for sid in sids:
        conn = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn.sendall(f"GET {poll_path(sid)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        sent.append((conn, time.monotonic()))
    return sent


def collect(sent: list[tuple[socket.socket, float]], timeout: float) -> list[tuple[Any, float]]:
    """Each connection's answer: ``(status, seconds after it was sent)``; then closed.

    ``status`` is ``"reset"`` for a connection reset, ``0`` for one closed
    unanswered, ``None`` for one still unanswered after ``timeout``.
    """
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytes] = {}
    started: dict[socket.socket, float] = {}
    for conn, when in sent:
        conn.setblocking(False)
        selector.register(conn, selectors.EVENT_READ)
        buffers[conn], started[conn] = b"", when
    answers: list[tuple[Any, float]] = []
    deadline = time.monotonic() + timeout
    while buffers and time.monotonic() < deadline:
        for key, _ in selector.select(0.1):
            conn = key.fileobj
            assert isinstance(conn, socket.socket)
            try:
                more = conn.recv(65536)
            except ConnectionResetError:
                more, status = b"", "reset"
            else:
                status = 0
            data = buffers[conn] + more
            if more and b"\r\n\r\n" not in data:
                buffers[conn] = data
                continue
            if more:
                status = int(data.split(b" ", 2)[1])
            answers.append((status, time.monotonic() - started[conn]))
            selector.unregister(conn)
            conn.close()
            del buffers[conn]
    for conn in buffers:
        answers.append((None, timeout))
        conn.close()
    selector.close()
    return answers


def tracebacks(*servers: AttackServer) -> int:
    """Tracebacks in the servers' logs."""
    return sum(server.log_text().count("Traceback") for server in servers)


def hung_owner(quick: bool) -> list[dict[str, str]]:
    """The owner stopped while misrouted polls wait on it; the forwarding process's own client."""
    count = 50 if quick else 200
    attack = f"owner hung (SIGSTOP), {count} misrouted polls"
    with tempfile.TemporaryDirectory(prefix="fwd-attack-") as directory:
        owner, other = pair(directory, polling_duration=HOLD, forward_timeout=FORWARD_TIMEOUT)
        try:
            sids = open_sessions(owner, count)
            with Prober(other.port) as base_prober:
                time.sleep(3 if quick else 5)
            baseline = base_prober.summary()
            rss, fds = rss_bytes(other.pid), open_fds(other.pid)
            os.kill(owner.pid, signal.SIGSTOP)
            try:
                with Prober(other.port) as prober:
                    sent = fire(other.port, sids)
                    time.sleep(HOLD / 2)
                    rss_held, fds_held = rss_bytes(other.pid), open_fds(other.pid)
                    answers = collect(sent, HOLD + FORWARD_TIMEOUT + 10)
            finally:
                os.kill(owner.pid, signal.SIGCONT)
            attacked = prober.summary()
            logged = tracebacks(owner, other)
        finally:
            owner.stop()
            other.stop()
    statuses = [status for status, _ in answers]
    times = sorted(seconds for status, seconds in answers if status == 504)
    waited = (
        f"{statistics.median(times):.2f} / {times[-1]:.2f} s ({len(times)} answered 504)"
        if times
        else "none answered 504"
    )
    others = {s: statuses.count(s) for s in set(statuses) if s != 504}
    return [
        row(
            attack,
            "forwarding process's own websocket client: echo round trip (p50 / p99)",
            latency_text(attacked),
            latency_text(baseline),
        ),
        row(
            attack,
            "misrouted polls answered after (median / max)",
            waited + (f", others {others}" if others else ""),
            "-",
            f"poll_hold + forward_timeout = {HOLD + FORWARD_TIMEOUT:g} s",
        ),
        row(
            attack,
            "forwarding process: memory / descriptors per waiting poll",
            f"{(rss_held - rss) / count:,.0f} B / {(fds_held - fds) / count:.2f}",
            "-",
        ),
        row(attack, "tracebacks in the logs", logged, 0),
    ]


def idle_held(quick: bool) -> list[dict[str, str]]:
    """Idle held polls, misrouted against direct: memory and descriptors per poll."""
    count = 200 if quick else 1_000
    attack = f"{count:,} idle misrouted held polls"
    with tempfile.TemporaryDirectory(prefix="fwd-attack-") as directory:
        owner, other = pair(directory, polling_duration=30, close_timeout=60)
        try:
            direct = held_phase(owner, other, False, count)
            misrouted = held_phase(owner, other, True, count)
            logged = tracebacks(owner, other)
        finally:
            owner.stop()
            other.stop()
    return [
        row(
            attack,
            "forwarding process: memory per held poll (baseline: the owner's per direct poll)",
            f"{misrouted['forwarder_rss_b']:,.0f} B",
            f"{direct['owner_rss_b']:,.0f} B",
        ),
        row(
            attack,
            "descriptors per held poll: forwarding process + owner (baseline: direct)",
            f"{misrouted['forwarder_fds']:.2f} + {misrouted['owner_fds']:.2f}",
            f"0 + {direct['owner_fds']:.2f}",
        ),
        row(attack, "tracebacks in the logs", logged, 0),
    ]


def past_the_cap(quick: bool) -> list[dict[str, str]]:
    """Twice ``max_connections`` misrouted held polls at the forwarding process."""
    cap = 100 if quick else 500
    attack = f"{2 * cap:,} misrouted held polls, max_connections={cap:,}"
    with tempfile.TemporaryDirectory(prefix="fwd-attack-") as directory:
        owner, other = pair(directory, max_connections=cap, polling_duration=HOLD + 2)
        try:
            sids = open_sessions(owner, 2 * cap)
            rss, fds = rss_bytes(other.pid), open_fds(other.pid)
            sent = fire(other.port, sids)
            time.sleep(1)
            rss_held, fds_held = rss_bytes(other.pid), open_fds(other.pid)
            answers = collect(sent, HOLD + 15)
            logged = tracebacks(owner, other)
        finally:
            owner.stop()
            other.stop()
    statuses = [status for status, _ in answers]
    counts = ", ".join(f"{s}: {statuses.count(s)}" for s in sorted(set(statuses), key=str))
    return [
        row(attack, "answers (200: held, then 8::)", counts, "-", f"200: {cap:,} at most"),
        row(
            attack,
            "forwarding process: memory / descriptors gained",
            f"{(rss_held - rss) / 2**20:+.1f} MiB / {fds_held - fds:+,}",
            "-",
            f"{2 * cap:,} descriptors",
        ),
        row(attack, "tracebacks in the logs", logged, 0),
    ]


def run(quick: bool = False) -> list[dict[str, str]]:
    """Every forwarding attack's rows."""
    return hung_owner(quick) + idle_held(quick) + past_the_cap(quick)


if __name__ == "__main__":
    from benchmarks.attacks.__main__ import table
    from benchmarks.harness import raise_nofile

    raise_nofile()
    print(table(run(quick="--quick" in sys.argv)))
