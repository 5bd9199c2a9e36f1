"""Serving the Socket.IO 0.9 browser client at ``/<resource>/socket.io.js``.

The package ships the client: ``socketio/static/socket.io.js`` and
``socket.io.min.js`` are the files ``dist/socket.io.js`` and
``dist/socket.io.min.js`` of the npm package ``socket.io-client@0.9.16``, byte
for byte (a test checks their SHA-256), with their MIT license notice beside
them. Where the script comes from, first match wins:

1. the path set in :attr:`Config.client_js <socketio.config.Config>`;
2. ``node_modules/socket.io-client/dist`` in the working directory or one of
   its parents (an application that installs the client with npm keeps
   serving its own copy, as before the package shipped one);
3. the copy in the package.

It is answered like a static file: ``ETag`` and ``Last-Modified``, ``304`` to
a matching conditional GET.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import pathlib
from typing import Optional

from .protocol import JAVASCRIPT, NOSNIFF, Response, text_response

__all__ = ["BUNDLED", "CLIENT_VERSION", "ClientScriptFile", "find_client_js"]

log = logging.getLogger(__name__)

_RELATIVE = pathlib.Path("node_modules", "socket.io-client", "dist")

#: The version of the npm package ``socket.io-client`` the package ships.
CLIENT_VERSION = "0.9.16"

#: The directory of the shipped client files (package data: the package is
#: installed unzipped, ``zip-safe = false``, so these are plain files).
BUNDLED = pathlib.Path(__file__).with_name("static")


def find_client_js(configured: Optional[str], name: str = "socket.io.js") -> Optional[pathlib.Path]:
    """Locate the browser client file ``name`` (``socket.io.js`` or ``socket.io.min.js``).

    Args:
        configured: a path to ``socket.io.js`` (or to its directory), or ``None``
            to search ``node_modules`` in the working directory and its parents,
            then the package's own copy.
        name: the file to find there: ``socket.io.js`` or ``socket.io.min.js``.

    Returns:
        The file's path (whether it exists is the caller's check when
        ``configured``), or ``None`` if neither the search nor the package
        has it (a package whose data files were removed).
    """
    if configured:
        path = pathlib.Path(configured)
        if path.is_dir():
            return path / name
        return path if name == "socket.io.js" else path.with_name(name)
    here = pathlib.Path.cwd()
    for directory in (here, *here.parents):
        candidate = directory / _RELATIVE / name
        if candidate.is_file():
            return candidate
    bundled = BUNDLED / name
    return bundled if bundled.is_file() else None


class ClientScriptFile:
    """One client script file, read once and answered with cache validators."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.body = path.read_bytes()
        self.etag = '"' + hashlib.sha1(self.body).hexdigest()[:20] + '"'
        self.last_modified = email.utils.formatdate(path.stat().st_mtime, usegmt=True)

    def response(self, if_none_match: Optional[str], if_modified_since: Optional[str]) -> Response:
        """The answer to a GET with the given conditional headers."""
        headers = [
            ("ETag", self.etag),
            ("Last-Modified", self.last_modified),
            ("Cache-Control", "public, max-age=3600"),
            NOSNIFF,
        ]
        if if_none_match is not None:
            fresh = (
                self.etag in [t.strip() for t in if_none_match.split(",")]
                or if_none_match.strip() == "*"
            )
        else:
            fresh = if_modified_since is not None and self._not_modified_since(if_modified_since)
        if fresh:
            return Response(304, headers, b"")
        headers += [("Content-Type", JAVASCRIPT), ("Content-Length", str(len(self.body)))]
        return Response(200, headers, self.body)

    def _not_modified_since(self, value: str) -> bool:
        try:
            since = email.utils.parsedate_to_datetime(value)
            mine = email.utils.parsedate_to_datetime(self.last_modified)
        except (TypeError, ValueError):
            return False
        return mine <= since


def not_found() -> Response:
    """The answer when no client script is installed."""
    return text_response(
        404,
        "socket.io.js is not installed: the package's copy (socketio/static) is "
        "missing; reinstall gevent-socketio, run `npm install socket.io-client@0.9.16` "
        "or set the client_js setting",
    )
