"""``socketio.distribution``: importing this package warns when python-socketio's files are mixed into it.

The mix is simulated: a copy of the package in a temporary directory, with a
module only python-socketio ships written beside ours, imported in a
subprocess. (``tests/integration/test_wheel_install.py`` installs the real
python-socketio over a wheel of this package.)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from socketio import distribution

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import warnings
warnings.simplefilter("always")
import socketio
print(socketio.__file__)
"""


def import_copy(tmp_path: Path, extra: list[str]) -> subprocess.CompletedProcess[str]:
    package = tmp_path / "socketio"
    shutil.copytree(ROOT / "socketio", package, ignore=shutil.ignore_patterns("__pycache__"))
    for name in extra:
        (package / name).write_text("# python-socketio's\n")
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_our_own_directory_passes_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert distribution.check_package_directory(str(ROOT / "socketio"))
    assert distribution.foreign_modules(str(ROOT / "socketio")) == []


def test_a_missing_directory_is_not_a_mix(tmp_path):
    assert distribution.foreign_modules(str(tmp_path / "nowhere")) == []


def test_python_socketio_modules_beside_ours_warn_with_the_fix(tmp_path):
    with pytest.warns(distribution.MixedPackageWarning) as caught:
        assert not distribution.check_package_directory(str(_mixed(tmp_path)))
    message = str(caught[0].message)
    assert "kombu_manager.py, zmq_manager.py are its files" in message
    assert "pip uninstall python-socketio gevent-socketio" in message


def _mixed(tmp_path: Path) -> Path:
    for name in ("kombu_manager.py", "zmq_manager.py", "handler.py"):
        (tmp_path / name).write_text("")
    return tmp_path


def test_importing_a_mixed_package_warns_once(tmp_path):
    proc = import_copy(tmp_path, ["asgi.py", "base_manager.py"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "socketio" / "__init__.py")
    assert proc.stderr.count("MixedPackageWarning") == 1, proc.stderr
    assert "asgi.py, base_manager.py are its files" in proc.stderr


def test_importing_our_package_alone_says_nothing(tmp_path):
    proc = import_copy(tmp_path, [])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
