"""HTTP connection attacks: slowloris, stalled uploads, a pipelining flood.

    .venv/bin/python -m benchmarks.attacks --only http [--quick]
    .venv/bin/python -m benchmarks.attacks.http [--quick]

Each against a fresh server (:mod:`benchmarks.attacks.app`), next to the same
figure without the attack, measured in the same run:

- **slowloris**: 1,100 connections (400 with ``--quick``) each sending its
  request head one byte per second, against a server limited to 1,024 open
  files (``max_connections`` automatic: 896). Measured: the server's open
  files, a new client's handshake time (p50 / max over 20, and how many
  failed), the prober's round trip.
- **stalled uploads**: 40 polling POSTs that announce 10 MB, send 5 MB (1 MB
  with ``--quick``) and stall, with ``body_timeout=5`` (the default is 30 s).
  Measured: the server's resident memory at the peak, and the seconds until
  every one of them was answered and closed.
- **pipelining flood**: one keep-alive connection pipelining 50,000 requests
  (10,000 with ``--quick``) and reading the answers. Measured: the
  prober's round trip during the flood, and the flood's requests per second.
"""

from __future__ import annotations

import socket
import statistics
import sys
import threading
import time
import urllib.request
from typing import Any

from benchmarks.attacks.common import AttackServer, Prober, latency_text, row

PROBE_HANDSHAKES = 20


def _handshakes(server: AttackServer, count: int) -> tuple[list[float], int]:
    """``count`` handshakes, 50 ms apart: (seconds each successful one took, failures)."""
    took, failed = [], 0
    for _ in range(count):
        sid, seconds = server.handshake(timeout=5)
        if sid:
            took.append(seconds)
        else:
            failed += 1
        time.sleep(0.05)
    return took, failed


def _handshake_text(took: list[float], failed: int) -> str:
    if not took:
        return f"all {failed} failed"
    text = f"{statistics.median(took) * 1000:.1f} / {max(took) * 1000:.1f} ms"
    return text + (f" ({failed} failed)" if failed else "")


def slowloris(quick: bool) -> list[dict[str, str]]:
    """Slowloris: open files, new clients' handshakes and the prober's round trip."""
    count = 400 if quick else 1100
    rows = []
    with AttackServer(nofile=1024) as server:
        with Prober(server.port) as quiet:
            took_before, failed_before = _handshakes(server, PROBE_HANDSHAKES)
        files_before = server.open_files()
        socks: list[socket.socket] = []
        stop = threading.Event()

        def attack() -> None:
            for _ in range(count):
                try:
                    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                    sock.sendall(b"G")
                    socks.append(sock)
                except OSError:
                    pass
            while not stop.wait(1):
                for sock in list(socks):
                    try:
                        sock.send(b"E")
                    except OSError:
                        socks.remove(sock)

        thread = threading.Thread(target=attack, daemon=True)
        thread.start()
        time.sleep(3)
        with Prober(server.port) as attacked:
            took, failed = _handshakes(server, PROBE_HANDSHAKES)
            files = server.open_files()
        stop.set()
        thread.join(5)
        for sock in socks:
            sock.close()
        log = server.log_text()
    name = f"slowloris, {count} conns at 1 B/s, 1024 fds"
    rows.append(row(name, "server open files", files, files_before, "< 1024"))
    rows.append(
        row(
            name,
            "new handshake p50 / max",
            _handshake_text(took, failed),
            _handshake_text(took_before, failed_before),
            "served",
        )
    )
    rows.append(
        row(
            name,
            "prober p50 / p99",
            latency_text(attacked.summary()),
            latency_text(quiet.summary()),
        )
    )
    rows.append(
        row(name, "'Too many open files' in log", "Too many open files" in log, False, "False")
    )
    return rows


def stalled_uploads(quick: bool) -> list[dict[str, str]]:
    """Stalled uploads: the server's peak memory and the seconds until every one is closed."""
    sent = (1 if quick else 5) * 1024 * 1024
    timeout = 5
    with AttackServer(body_timeout=timeout) as server:  # (10 MB: max_body_size exactly)
        rss_before = server.rss_mib()
        socks = []
        started = time.monotonic()
        for _ in range(40):
            sid, _ = server.handshake()
            path = f"/socket.io/1/xhr-polling/{sid}"
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5):
                pass  # the session's first GET: 1::
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n"
            sock.sendall(head.encode())
            socks.append(sock)
        chunk = b"x" * 65536
        for sock in socks:
            try:
                for _ in range(sent // len(chunk)):
                    sock.sendall(chunk)
            except OSError:
                pass  # refused (503) and closed: max_total_body_size
        peak = server.rss_mib()
        answers = []
        for sock in socks:
            data = b""
            while True:
                try:
                    part = sock.recv(65536)
                except OSError:
                    break
                if not part:
                    break
                data += part
            answers.append(data.split(b"\r\n", 1)[0].decode("latin-1", "replace"))
            sock.close()
        closed_after = time.monotonic() - started
        rss_after = server.rss_mib()
    name = f"40 polling POSTs announce 10 MB, send {sent >> 20} MB, stall (body_timeout={timeout})"
    return [
        row(name, "server RSS at the peak (MiB)", f"{peak:.1f}", f"{rss_before:.1f}"),
        row(name, "server RSS after (MiB)", f"{rss_after:.1f}", f"{rss_before:.1f}"),
        row(name, "all answered and closed after (s)", f"{closed_after:.1f}", "-", f"~{timeout}"),
        row(
            name,
            "answers",
            ", ".join(f"{answers.count(a)}x {a}" for a in sorted(set(answers))),
            "-",
            "408 (503 past max_total_body_size)",
        ),
    ]


def pipelining(quick: bool) -> list[dict[str, str]]:
    """A pipelining flood: the prober's round trip during it, and its requests per second."""
    count = 10_000 if quick else 50_000
    with AttackServer() as server:
        with Prober(server.port) as quiet:
            time.sleep(2)
        flood = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        received = [0]

        def send() -> None:
            try:
                flood.sendall(b"GET /socket.io/ HTTP/1.1\r\nHost: x\r\n\r\n" * count)
            except OSError:
                pass

        def read() -> None:
            tail = b""
            try:
                while received[0] < count:
                    part = flood.recv(1 << 20)
                    if not part:
                        break
                    data = tail + part
                    received[0] += data.count(b"HTTP/1.1 200")
                    tail = data[-16:]
            except OSError:
                pass

        with Prober(server.port) as attacked:
            started = time.monotonic()
            threads = [threading.Thread(target=f, daemon=True) for f in (send, read)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            seconds = time.monotonic() - started
        flood.close()
    name = f"pipelining flood, {count} requests on one connection"
    return [
        row(
            name,
            "prober p50 / p99",
            latency_text(attacked.summary()),
            latency_text(quiet.summary()),
        ),
        row(name, "flood requests answered per s", f"{received[0] / seconds:.0f}", "-"),
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """The rows of the HTTP attacks (see the module docstring)."""
    return [*slowloris(quick), *stalled_uploads(quick), *pipelining(quick)]


if __name__ == "__main__":
    from benchmarks.attacks.__main__ import table
    from benchmarks.harness import raise_nofile

    raise_nofile()
    print(table(run("--quick" in sys.argv)))
