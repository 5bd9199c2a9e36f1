"""The protocol core imports without gevent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
import socketio, socketio.packet, socketio.payload, socketio.protocol, socketio.config, socketio.defaultjson
import socketio.wsframe, socketio.httpheaders, socketio.wshandshake, socketio.sessions
import socketio.httpseam
import socketio.exceptions
print(json.dumps({
    "gevent": sorted(m for m in sys.modules if m == "gevent" or m.startswith("gevent.")),
    "file": socketio.__file__,
}))
"""


def test_pure_modules_do_not_import_gevent():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert Path(result["file"]).resolve() == ROOT / "socketio" / "__init__.py"
    assert result["gevent"] == []
