"""The real socket.io-client 0.9.16 in node, driven command by command.

:class:`NodeClient` runs ``tests/js/lifecycle_client.js`` so a test can act on
the server between two client steps.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from typing import Any

from .conftest import NODE_MODULES

LIFECYCLE_JS = NODE_MODULES.parent / "lifecycle_client.js"


class NodeClient:
    """The real 0.9.16 client in a node process, one command at a time.

    ``call(cmd, **fields)`` sends a command to ``lifecycle_client.js`` and
    returns its result, failing with the client's own message.
    """

    def __init__(self, url: str) -> None:
        node = shutil.which("node")
        assert node, "node is not on PATH"
        self.proc = subprocess.Popen(
            [node, str(LIFECYCLE_JS), url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            cwd=LIFECYCLE_JS.parent,
        )
        self._replies: queue.Queue[dict] = queue.Queue()
        self._pending: dict[int, dict] = {}
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self._replies.put(json.loads(line))
        self._replies.put({"id": None, "eof": True})

    def call(self, cmd: str, timeout: float = 10, **fields: Any) -> Any:
        """Run ``cmd`` with ``fields`` in the client; its result (fails with the client's error)."""
        self._next_id += 1
        ident = self._next_id
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"id": ident, "cmd": cmd, **fields}) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while ident not in self._pending:
            left = deadline - time.monotonic()
            try:
                reply = self._replies.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError(f"node client: no answer to {cmd} {fields}") from None
            if reply.get("eof"):
                raise AssertionError(f"node client exited: {self.stderr()}")
            self._pending[reply["id"]] = reply
        reply = self._pending.pop(ident)
        if not reply["ok"]:
            raise AssertionError(f"node client, {cmd} {fields}: {reply['error']}")
        return reply["result"]

    def connect(self, label: str, ns: str, transport: str, **options: Any) -> str:
        """A new client socket; returns its session id."""
        result = self.call("connect", label=label, ns=ns, transport=transport, options=options)
        assert result["transport"] == transport, result
        return result["sessionid"]

    def emit(self, label: str, event: str, *args: Any, ack: bool = False) -> Any:
        """Emit ``event`` on socket ``label``; with ``ack``, the ack's arguments."""
        return self.call("emit", label=label, event=event, args=list(args), ack=ack)

    def wait(self, label: str, event: str, ms: int = 5000) -> Any:
        """Wait up to ``ms`` for ``event`` on ``label``; its arguments."""
        return self.call("wait", label=label, event=event, ms=ms, timeout=ms / 1000 + 5)

    def events(self, label: str | None = None) -> list[tuple[str, str, Any]]:
        """``(label, event, args)`` of every event seen (heartbeats excluded)."""
        log = self.call("log")["log"]
        return [(e["c"], e["e"], e["a"]) for e in log if label is None or e["c"] == label]

    def wire(self, direction: str | None = None) -> list[str]:
        """Packets decoded (``in``) or encoded (``out``) by the client."""
        return [w[1] for w in self.call("log")["wire"] if direction in (None, w[0])]

    def stderr(self) -> str:
        """What the node process wrote to stderr (once it has exited)."""
        try:
            self.proc.wait(1)
        except subprocess.TimeoutExpired:
            return "(still running)"
        return self.proc.stderr.read() if self.proc.stderr else ""

    def close(self) -> None:
        """Ask the client to exit, kill it if it does not, and close its pipes."""
        if self.proc.poll() is None:
            try:
                self.call("exit", timeout=2)
            except (AssertionError, OSError):
                pass
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
