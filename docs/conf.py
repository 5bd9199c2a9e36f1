"""Sphinx configuration for gevent-socketio."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

project = "gevent-socketio"
author = "the gevent-socketio developers"
copyright = "the gevent-socketio developers"  # noqa: A001
# The version is written once, as socketio.__version__ (importing the package
# does not import gevent).
from socketio import __version__ as _version_tuple  # noqa: E402

release = ".".join(str(part) for part in _version_tuple)
version = ".".join(str(part) for part in _version_tuple[:2])

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.intersphinx"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports = ["gunicorn", "django"]
intersphinx_mapping = {}
napoleon_google_docstring = True
nitpicky = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
suppress_warnings = ["ref.python"]
