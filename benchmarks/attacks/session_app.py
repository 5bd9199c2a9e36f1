"""The attack benchmarks' echo server with one more handler: ``pair(a, b)``.

    python -m benchmarks.attacks.session_app --port PORT [--config JSON]

:mod:`benchmarks.attacks.session` sends it events with the wrong number of
arguments (``pair`` with one), a client mistake the echo handler, which
takes any number, cannot show.
"""

from __future__ import annotations

from typing import Any

from benchmarks.attacks import app


def on_pair(self: Any, a: Any, b: Any) -> list[Any]:
    return [a, b]


app.EchoNamespace.on_pair = on_pair  # type: ignore[attr-defined]

if __name__ == "__main__":
    app.main()
