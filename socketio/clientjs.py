"""Serving the Socket.IO 0.9 browser client at ``/<resource>/socket.io.js``.

The script is never copied into this project: it comes from the npm package
``socket.io-client@0.9.x`` (``npm install socket.io-client@0.9.16``), found in a
``node_modules`` directory above the working directory, or from the path set in
:attr:`Config.client_js <socketio.config.Config>`. It is answered like a static
file: ``ETag`` and ``Last-Modified``, ``304`` to a matching conditional GET.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import pathlib
from typing import Optional

from .protocol import JAVASCRIPT, NOSNIFF, Response, text_response

__all__ = ["ClientScriptFile", "find_client_js"]

log = logging.getLogger(__name__)

_RELATIVE = pathlib.Path("node_modules", "socket.io-client", "dist")


def find_client_js(configured: Optional[str], name: str = "socket.io.js") -> Optional[pathlib.Path]:
    """Locate the browser client file ``name`` (``socket.io.js`` or ``socket.io.min.js``).

    Args:
        configured: a path to ``socket.io.js`` (or to its directory), or ``None``
            to search ``node_modules`` in the working directory and its parents.
        name: the file to find there: ``socket.io.js`` or ``socket.io.min.js``.

    Returns:
        The file's path (whether it exists is the caller's check when
        ``configured``), or ``None`` if the search found none.
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
    return None


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
        "socket.io.js is not installed: run `npm install socket.io-client@0.9.16` "
        "or set the client_js setting",
    )
