"""The project's metadata: one version, the distribution's name, extras and entry points."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

import socketio

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser as tomli, which coverage[toml] installs there
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project():
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def test_the_version_is_written_once(project):
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "socketio.__version__"
    assert not (ROOT / "setup.py").exists()
    # Nothing else in the tree states it.
    release = ".".join(str(part) for part in socketio.__version__)
    for path in ("docs/conf.py", "pyproject.toml"):
        assert release not in (ROOT / path).read_text(encoding="utf-8"), path


def test_the_changelog_has_an_entry_for_this_version():
    release = ".".join(str(part) for part in socketio.__version__)
    text = (ROOT / "CHANGELOG.rst").read_text(encoding="utf-8")
    assert re.search(rf"^.*\({re.escape(release)}\)$|^{re.escape(release)}\b", text, re.M)


def test_distribution_name_extras_and_entry_points(project):
    meta = project["project"]
    assert meta["name"] == "gevent-socketio"
    extras = set(meta["optional-dependencies"])
    assert {"test", "lint", "redis", "gunicorn", "django", "docs"} <= extras
    runners = meta["entry-points"]["paste.server_runner"]
    assert runners == {"paster": "socketio.server:serve_paste"}
    # PyPy 7.3 is Python 3.9 (issue 21); CPython is tested from 3.10
    assert meta["requires-python"] == ">=3.9"
    classifiers = set(meta["classifiers"])
    assert "Programming Language :: Python :: Implementation :: PyPy" in classifiers
    assert {
        f"Programming Language :: Python :: 3.{minor}" for minor in range(10, 14)
    } <= classifiers


def test_the_installed_metadata_matches():
    try:
        installed = importlib.metadata.version("gevent-socketio")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("gevent-socketio is not installed")
    assert installed == ".".join(str(part) for part in socketio.__version__)
