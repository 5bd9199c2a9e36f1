"""Sphinx configuration for gevent-socketio."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

project = "gevent-socketio"
author = "the gevent-socketio developers"
copyright = "the gevent-socketio developers"  # noqa: A001
release = "0.4.0.dev0"
version = "0.4"

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
