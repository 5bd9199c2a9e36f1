"""The browser client the package ships: the npm release's files, byte for byte, and where it is found.

The SHA-256 values below are those of ``dist/socket.io.js`` and
``dist/socket.io.min.js`` in the npm tarball ``socket.io-client-0.9.16.tgz``
(``npm pack socket.io-client@0.9.16``; the tarball's own integrity is the
``sha512-wSM7...`` of ``tests/js/package-lock.json``). When the suite's npm
install is present, its files are compared too, so a changed pin shows up.
"""

from __future__ import annotations

import hashlib
import pathlib

import pytest

from socketio import clientjs

ROOT = pathlib.Path(__file__).resolve().parents[2]
NPM_DIST = ROOT / "tests" / "js" / "node_modules" / "socket.io-client" / "dist"

SHA256 = {
    "socket.io.js": "b17f7a71540fa8850b25d4d2b73f1b00d4354f005501156b2046a4edbbf9ba1f",
    "socket.io.min.js": "6c562da8e663d4c2c394eace971094f5aaee0cfdb3c6220abe6a28f9d1eccb8c",
}


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(SHA256))
def test_the_shipped_client_is_the_npm_release_byte_for_byte(name):
    assert sha256(clientjs.BUNDLED / name) == SHA256[name]


@pytest.mark.parametrize("name", sorted(SHA256))
def test_the_pin_matches_the_suites_npm_install(name):
    if not (NPM_DIST / name).is_file():
        pytest.skip("tests/js/node_modules is not installed (./run test installs it)")
    assert sha256(NPM_DIST / name) == SHA256[name]


def test_the_license_notice_ships_beside_it():
    notice = (clientjs.BUNDLED / "LICENSE.socket.io-client").read_text(encoding="utf-8")
    assert "(The MIT License)" in notice
    assert "Copyright (c) 2010 LearnBoost" in notice
    assert "socket.io-client 0.9.16" in notice
    body = (clientjs.BUNDLED / "socket.io.js").read_text(encoding="utf-8")
    assert f"io.version = '{clientjs.CLIENT_VERSION}'" in body


def test_the_package_copy_is_found_when_npm_installed_none(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in SHA256:
        found = clientjs.find_client_js(None, name)
        assert found == clientjs.BUNDLED / name


def test_a_node_modules_copy_above_the_working_directory_still_wins(tmp_path, monkeypatch):
    dist = tmp_path / "node_modules" / "socket.io-client" / "dist"
    dist.mkdir(parents=True)
    (dist / "socket.io.js").write_text("// the app's own copy\n")
    work = tmp_path / "app"
    work.mkdir()
    monkeypatch.chdir(work)
    assert clientjs.find_client_js(None) == dist / "socket.io.js"
    # (only the file it has: the minified one comes from the package)
    assert (
        clientjs.find_client_js(None, "socket.io.min.js") == clientjs.BUNDLED / "socket.io.min.js"
    )


def test_the_client_js_setting_overrides_both(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "js" / "socket.io.js"
    mine.parent.mkdir()
    assert clientjs.find_client_js(str(mine)) == mine
    assert clientjs.find_client_js(str(mine), "socket.io.min.js") == mine.with_name(
        "socket.io.min.js"
    )
    assert clientjs.find_client_js(str(mine.parent)) == mine


def test_a_missing_package_copy_answers_404_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(clientjs, "BUNDLED", tmp_path / "static")
    assert clientjs.find_client_js(None) is None
    response = clientjs.not_found()
    assert response.status == 404
    assert isinstance(response.body, bytes)
    assert b"reinstall gevent-socketio" in response.body
