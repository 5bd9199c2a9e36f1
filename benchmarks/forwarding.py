"""The cost of a misrouted polling request: forwarded to its session's owner, against a direct one.

    .venv/bin/python -m benchmarks.forwarding [--clients 20] [--runs 3] [--seconds 5]
                                              [--held 1000] [--variants unix,tcp]
                                              [--no-pin] [--json FILE]

Two server processes (:mod:`benchmarks.attacks.app`, the echo application)
share a ``session_secret`` and each has a ``forward_listener``: a unix socket
(as gunicorn's workers get) or a TCP port (as across hosts), one pair of
processes per variant. Every session is handshaken with the first process,
its *owner*. Then, in the same pair of processes, alternately:

- **direct**: ``--clients`` xhr-polling clients send every request to the
  owner;
- **misrouted**: the same number of new clients send every request to the
  other process, which forwards each to the owner and relays the answer.

Each client is a sequential echo loop as in workload D of the suite: a GET
held open, the event ``echo`` with an ack POSTed on a second keep-alive
connection, the ack read from the GET, a new GET. Measured over a window of
``--seconds`` after one second of warm-up: round trips per second, their
latency (POST sent to ack received, p50 and p99), and CPU microseconds per
round trip of each process (user and system time from ``/proc/<pid>/stat``).
Medians of ``--runs`` runs, the order of direct and misrouted alternating
between runs, with ± half their range in % of the median, and the ratio
misrouted / direct of the medians.

Then the cost of a poll held open: ``--held`` sessions, each with a GET
held at the owner (direct) or at the other process (misrouted, which holds
the client's connection and one to the owner for each), and the resident
memory and file descriptors each process gained, per held poll. Direct is
measured first: the forwarding process has then served nothing but the
echo phases, so what it gains is what the held polls cost it.

The servers run pinned to core 0, the clients (greenlets of this process,
raw sockets) to core 1; ``--no-pin`` leaves both free. The clients' own CPU
is shown: near 100 % the clients, not the servers, set the rate.
"""

from __future__ import annotations

import argparse
import json
import os
import socket as stdlib_socket
import statistics
import sys
import tempfile
import time
from typing import Any, Optional

import gevent
import gevent.socket

from benchmarks.attacks.common import AttackServer
from benchmarks.harness import raise_nofile

SECRET = "forwarding-benchmark-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
WARM_UP = 1.0


def echo_packet(n: int) -> bytes:
    """The event with an ack that workload D sends (93 bytes for a small ``n``)."""
    data = f'{{"seq":{n},"text":"hello, world","values":[1,2,3],"ok":true}}'
    return f'5:{n}+::{{"name":"echo","args":[{data}]}}'.encode()


class Conn:
    """A minimal HTTP/1.1 keep-alive client connection (gevent socket) to 127.0.0.1."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.sock = gevent.socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(stdlib_socket.IPPROTO_TCP, stdlib_socket.TCP_NODELAY, 1)
        self.buffer = b""

    def send(self, method: str, path: str, body: Optional[bytes] = None) -> None:
        """Send one request (a body only with ``body``)."""
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if body is not None:
            head += f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + (body or b""))

    def read(self) -> tuple[int, bytes]:
        """The next response on the connection: ``(status, body)`` (``Content-Length`` framed)."""
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        while len(rest) < length:
            self.buffer = rest
            self._more()
            rest = self.buffer
        self.buffer = rest[length:]
        return status, rest[:length]

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed by the server")
        self.buffer += data

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()


def handshakes(port: int, count: int) -> list[str]:
    """``count`` new session ids from the server on ``port`` (one keep-alive connection)."""
    conn = Conn(port)
    sids = []
    try:
        for _ in range(count):
            conn.send("GET", "/socket.io/1/")
            status, body = conn.read()
            assert status == 200, (status, body)
            sids.append(body.decode().split(":")[0])
    finally:
        conn.close()
    return sids


def poll_path(sid: str) -> str:
    """The xhr-polling path of session ``sid``."""
    return f"/socket.io/1/xhr-polling/{sid}"


def cpu_ticks(pid: int) -> int:
    """User plus system time of process ``pid``, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid``."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE_BYTES


def open_fds(pid: int) -> int:
    """File descriptors process ``pid`` has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


class Phase:
    """What the clients of one phase share: when to measure, when to stop, what they saw."""

    def __init__(self) -> None:
        self.measuring = False
        self.stop = False
        self.latencies: list[float] = []
        self.errors: list[str] = []


def echo_loop(sid: str, port: int, phase: Phase) -> None:
    """One client: open the session, then echo round trips until ``phase.stop``."""
    path = poll_path(sid)
    get, post = Conn(port), Conn(port)
    try:
        get.send("GET", path)
        status, body = get.read()
        if (status, body) != (200, b"1::"):
            raise AssertionError(f"opening GET answered {status} {body[:80]!r}")
        n = 0
        while not phase.stop:
            n += 1
            get.send("GET", path)
            started = time.perf_counter()
            post.send("POST", path, echo_packet(n))
            status, body = post.read()
            if status != 200:
                raise AssertionError(f"POST answered {status} {body[:80]!r}")
            ack = f"6:::{n}+".encode()
            while True:
                status, body = get.read()
                if status != 200:
                    raise AssertionError(f"GET answered {status} {body[:80]!r}")
                if ack in body:
                    break
                get.send("GET", path)  # (a heartbeat or a noop: poll again)
            if phase.measuring:
                phase.latencies.append(time.perf_counter() - started)
    except (OSError, AssertionError) as exc:
        phase.errors.append(f"{sid[:8]}: {exc}")
    finally:
        get.close()
        post.close()


def disconnect(port: int, sids: list[str]) -> None:
    """End the sessions ``sids`` with a ``?disconnect`` each, sent to ``port``."""
    conn = Conn(port)
    try:
        for sid in sids:
            conn.send("GET", poll_path(sid) + "?disconnect")
            conn.read()
    finally:
        conn.close()


def echo_phase(
    owner: AttackServer, other: AttackServer, misrouted: bool, clients: int, seconds: float
) -> dict[str, Any]:
    """One measured window of ``clients`` echo loops, direct or misrouted; its figures."""
    sids = handshakes(owner.port, clients)
    target = other.port if misrouted else owner.port
    phase = Phase()
    loops = [gevent.spawn(echo_loop, sid, target, phase) for sid in sids]
    gevent.sleep(WARM_UP)
    pids = {"owner": owner.pid, "forwarder": other.pid, "clients": os.getpid()}
    ticks = {name: cpu_ticks(pid) for name, pid in pids.items()}
    started = time.perf_counter()
    phase.measuring = True
    gevent.sleep(seconds)
    phase.measuring = False
    elapsed = time.perf_counter() - started
    used = {name: (cpu_ticks(pid) - ticks[name]) / CLK_TCK for name, pid in pids.items()}
    phase.stop = True
    gevent.joinall(loops, timeout=60)
    disconnect(target, sids)
    if phase.errors:
        raise RuntimeError(f"{len(phase.errors)} clients failed: {phase.errors[:3]}")
    count = len(phase.latencies)
    values = sorted(phase.latencies)
    return {
        "round_trips_per_s": count / elapsed,
        "p50_ms": statistics.median(values) * 1000,
        "p99_ms": values[min(count - 1, int(count * 0.99))] * 1000,
        "owner_us": used["owner"] / count * 1e6,
        "forwarder_us": used["forwarder"] / count * 1e6,
        "both_us": (used["owner"] + used["forwarder"]) / count * 1e6,
        "clients_cpu_pct": used["clients"] / elapsed * 100,
    }


def held_phase(
    owner: AttackServer, other: AttackServer, misrouted: bool, count: int
) -> dict[str, Any]:
    """``count`` idle polls held at once, direct or misrouted: what each costs each process."""
    sids = handshakes(owner.port, count)
    target = other.port if misrouted else owner.port
    opener = Conn(target)
    for sid in sids:  # the session's first GET, answered 1:: at once
        opener.send("GET", poll_path(sid))
        assert opener.read() == (200, b"1::")
    opener.close()
    servers = {"owner": owner.pid, "forwarder": other.pid}
    gevent.sleep(0.5)
    before = {name: (rss_bytes(pid), open_fds(pid)) for name, pid in servers.items()}
    conns = []
    for sid in sids:
        conn = Conn(target)
        conn.send("GET", poll_path(sid))
        conns.append(conn)
    # Held once the owner has a descriptor for each (forwarded or not).
    deadline = time.monotonic() + 30
    while open_fds(owner.pid) < before["owner"][1] + count and time.monotonic() < deadline:
        gevent.sleep(0.05)
    gevent.sleep(1.0)
    after = {name: (rss_bytes(pid), open_fds(pid)) for name, pid in servers.items()}
    disconnect(owner.port, sids)  # answers every held GET (0::)
    answered = 0
    for conn in conns:
        try:
            status, _ = conn.read()
            answered += status == 200
        except OSError:
            pass
        conn.close()
    figures: dict[str, Any] = {"answered": answered}
    for name in servers:
        figures[f"{name}_rss_b"] = (after[name][0] - before[name][0]) / count
        figures[f"{name}_fds"] = (after[name][1] - before[name][1]) / count
    return figures


def spread(values: list[float]) -> tuple[float, float]:
    """The median of ``values`` and ± half their range, in % of it."""
    median = statistics.median(values)
    half = (max(values) - min(values)) / 2
    return median, (half / median * 100 if median else 0.0)


ECHO_ROWS = (
    ("round trips/s", "round_trips_per_s", "{:,.0f}"),
    ("latency p50 (ms)", "p50_ms", "{:.2f}"),
    ("latency p99 (ms)", "p99_ms", "{:.2f}"),
    ("owner CPU µs / round trip", "owner_us", "{:.0f}"),
    ("forwarding process CPU µs / round trip", "forwarder_us", "{:.0f}"),
    ("both processes CPU µs / round trip", "both_us", "{:.0f}"),
    ("clients' CPU (% of a core)", "clients_cpu_pct", "{:.0f}"),
)


def echo_table(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Markdown rows: each measure direct, misrouted, and misrouted / direct."""
    lines = ["| measure | direct | misrouted | misrouted / direct |", "|---|---|---|---|"]
    for label, key, fmt in ECHO_ROWS:
        cells = []
        medians = {}
        for kind in ("direct", "misrouted"):
            median, half = spread([r[key] for r in runs[kind]])
            medians[kind] = median
            cells.append(f"{fmt.format(median)} ±{half:.0f} %")
        ratio = medians["misrouted"] / medians["direct"] if medians["direct"] else float("nan")
        ratio_text = "-" if key == "forwarder_us" else f"{ratio:.2f}"
        lines.append(f"| {label} | {cells[0]} | {cells[1]} | {ratio_text} |")
    return lines


def held_table(held: dict[str, dict[str, Any]], count: int) -> list[str]:
    """Markdown rows: memory and descriptors per held poll, each process, direct and misrouted."""
    lines = [
        f"| per idle held poll ({count:,} held) | direct | misrouted |",
        "|---|---|---|",
    ]
    for label, key, fmt in (
        ("owner: resident memory", "owner_rss_b", "{:,.0f} B"),
        ("owner: file descriptors", "owner_fds", "{:.2f}"),
        ("forwarding process: resident memory", "forwarder_rss_b", "{:,.0f} B"),
        ("forwarding process: file descriptors", "forwarder_fds", "{:.2f}"),
    ):
        cells = [fmt.format(held[kind][key]) for kind in ("direct", "misrouted")]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    answered = ", ".join(f"{kind} {held[kind]['answered']:,}" for kind in held)
    lines.append(f"| held GETs answered at the end (of {count:,}) | {answered} | |")
    return lines


def server_pair(variant: str, directory: str) -> tuple[AttackServer, AttackServer]:
    """Two started echo servers sharing a secret, with ``variant`` (unix or tcp) forward listeners."""
    servers = []
    for name in ("owner", "forwarder"):
        forward = "127.0.0.1:0" if variant == "tcp" else f"unix:{directory}/{name}.sock"
        server = AttackServer(
            session_secret=SECRET,
            forward_listener=forward,
            polling_duration=30,
            close_timeout=60,
        )
        servers.append(server.start())
    return servers[0], servers[1]


def run_variant(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every measure for one kind of forward listener, on a fresh pair of processes."""
    with tempfile.TemporaryDirectory(prefix="fwd-bench-") as directory:
        owner, other = server_pair(variant, directory)
        try:
            if args.pin:
                for server in (owner, other):
                    os.sched_setaffinity(server.pid, {0})
            runs: dict[str, list[dict[str, Any]]] = {"direct": [], "misrouted": []}
            for n in range(args.runs):
                order = (False, True) if n % 2 == 0 else (True, False)
                for misrouted in order:
                    figures = echo_phase(owner, other, misrouted, args.clients, args.seconds)
                    runs["misrouted" if misrouted else "direct"].append(figures)
                    print(f"  {variant} run {n + 1}: {'misrouted' if misrouted else 'direct'} "
                          f"{figures['round_trips_per_s']:,.0f}/s", file=sys.stderr)  # fmt: skip
            held = {}
            if args.held:
                held["direct"] = held_phase(owner, other, False, args.held)
                held["misrouted"] = held_phase(owner, other, True, args.held)
            log = owner.log_text() + other.log_text()
        finally:
            owner.stop()
            other.stop()
    return {"runs": runs, "held": held, "tracebacks": log.count("Traceback")}


def main(argv: Optional[list[str]] = None) -> int:
    """Measure each variant and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--held", type=int, default=1000, help="0: skip the held polls")
    parser.add_argument("--variants", default="unix,tcp")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    parser.add_argument("--json", default="", help="also write every run's figures here")
    args = parser.parse_args(argv)
    raise_nofile()
    if args.pin:
        os.sched_setaffinity(0, {1})
    print(f"forwarding benchmark: {args.clients} xhr-polling echo clients, {args.runs} runs of "
          f"{args.seconds:g} s, servers {'on core 0, clients on core 1' if args.pin else 'unpinned'}")  # fmt: skip
    results = {}
    for variant in args.variants.split(","):
        print(f"{variant} ...", file=sys.stderr, flush=True)
        result = results[variant] = run_variant(variant, args)
        print(f"\n### forward listener: {variant}\n")
        print("\n".join(echo_table(result["runs"])))
        if result["held"]:
            print()
            print("\n".join(held_table(result["held"], args.held)))
        print(f"\nTracebacks in the servers' logs: {result['tracebacks']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
