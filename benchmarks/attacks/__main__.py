"""Run the attack benchmarks and print one table.

    .venv/bin/python -m benchmarks.attacks [--quick] [--only websocket,http] [--json FILE]

Each area's module (``websocket``, ``http``, ``sessions``, ``session``, ``polls``,
``ratelimit``, ``redis``, ``forwarding``) has ``run(quick) -> list of rows``: an attack against a fresh
server process, what it cost (the server's memory, open files, log, another
client's round trip), next to the same figure without the attack, measured
in the same run. See ``benchmarks/README.md``, "Attacks".
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

from benchmarks.harness import raise_nofile

AREAS = ("websocket", "http", "sessions", "session", "polls", "redis", "ratelimit", "forwarding")
COLUMNS = ("attack", "measure", "attacked", "baseline", "limit")


def table(rows: list[dict[str, str]]) -> str:
    """``rows`` as a Markdown table."""
    widths = {c: max([len(c), *(len(r.get(c, "")) for r in rows)]) for c in COLUMNS}
    lines = [
        "| " + " | ".join(c.ljust(widths[c]) for c in COLUMNS) + " |",
        "|" + "|".join("-" * (widths[c] + 2) for c in COLUMNS) + "|",
    ]
    for r in rows:
        lines.append("| " + " | ".join(r.get(c, "").ljust(widths[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen attack areas and print their rows; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter attacks")
    parser.add_argument("--only", default="", help="comma-separated areas: " + ",".join(AREAS))
    parser.add_argument("--json", default="", help="also write the rows to this file")
    args = parser.parse_args(argv)
    areas = [a for a in args.only.split(",") if a] or list(AREAS)
    raise_nofile()  # the attackers' own connections
    rows: list[dict[str, str]] = []
    failed = 0
    for area in areas:
        try:
            module = importlib.import_module(f"benchmarks.attacks.{area}")
        except ModuleNotFoundError as exc:
            if exc.name != f"benchmarks.attacks.{area}":
                raise
            print(f"attacks: no module for {area!r}", file=sys.stderr)
            continue
        started = time.monotonic()
        print(f"attacks: {area} ...", file=sys.stderr, flush=True)
        try:
            rows += module.run(quick=args.quick)
        except Exception as exc:  # one area failing must not lose the others' figures
            failed += 1
            print(f"attacks: {area} failed: {exc!r}", file=sys.stderr)
        print(f"attacks: {area} took {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
