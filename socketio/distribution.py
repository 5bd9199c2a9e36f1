"""Which ``socketio`` this is: the check that python-socketio's files are not mixed into it.

Two distributions install a top-level package named ``socketio``: this one
(``gevent-socketio``, Socket.IO 0.9) and ``python-socketio`` (Socket.IO 1.x and
later, what Flask-SocketIO uses). pip does not stop the second from being
installed into the same environment: it writes its files into the same
``socketio/`` directory, over the first one's (``__init__``, ``server``,
``namespace``, ``packet``, ``exceptions``, ``manager``, ``redis_manager``),
and uninstalling either later deletes files the other needs.

What this package can see for itself, at import time:

* **Its own** ``__init__`` **runs and python-socketio's modules lie beside
  it** (python-socketio was installed first, this package over it): this
  package still works, python-socketio does not, and uninstalling either one
  will break the other. :func:`check_package_directory` warns, once per
  process, with what to do.
* **python-socketio's** ``__init__``, ``server`` and ``namespace`` **were
  written over these** (python-socketio installed last), or its package comes
  first on ``sys.path``: then none of this package's code runs when an
  application imports ``socketio``, ``socketio.server`` or
  ``socketio.namespace``, so nothing here can speak; the application gets
  python-socketio's modules and an ``ImportError`` such as ``cannot import
  name 'socketio_manage' from 'socketio'``. The quick start's
  "Troubleshooting" section quotes those messages with the fix.

The check lists the package directory once (about 25 microseconds; reading
the installed distributions through :mod:`importlib.metadata` instead would
cost about 30 milliseconds at every import, six times this whole package's
import) and looks for modules only python-socketio ships (in its 4.x and 5.x
releases alike).
"""

from __future__ import annotations

import os
import warnings

__all__ = [
    "PYTHON_SOCKETIO_MODULES",
    "MixedPackageWarning",
    "check_package_directory",
    "foreign_modules",
]

#: Modules of python-socketio (4.x and 5.x) that this package never had.
PYTHON_SOCKETIO_MODULES = frozenset(
    {
        "asgi.py",
        "base_manager.py",
        "kafka_manager.py",
        "kombu_manager.py",
        "pubsub_manager.py",
        "zmq_manager.py",
    }
)


class MixedPackageWarning(RuntimeWarning):
    """python-socketio's files are in this package's directory (see the module's docstring).

    A warning, not an error: the modules this package imports are still its
    own (it was installed last), so applications keep running while the
    environment gets fixed. Like every exception of the library it carries
    ``message``.
    """

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(message, *args)
        self.message = message

    def __str__(self) -> str:
        return self.message


def foreign_modules(package_dir: str) -> list[str]:
    """The python-socketio modules found in ``package_dir``, sorted (none: an empty list)."""
    try:
        names = os.listdir(package_dir)
    except OSError:  # a zipped or otherwise unusual install: nothing to tell
        return []
    return sorted(PYTHON_SOCKETIO_MODULES.intersection(names))


def check_package_directory(package_dir: str) -> bool:
    """Warn if python-socketio was installed into this package's directory.

    Args:
        package_dir: the directory of the ``socketio`` package being imported
            (``socketio.__path__[0]``).

    Returns:
        ``True`` if the directory holds only this package's modules, ``False``
        after warning (:class:`MixedPackageWarning`) that it does not.
    """
    found = foreign_modules(package_dir)
    if not found:
        return True
    warnings.warn(
        f"{package_dir} mixes two packages named socketio: gevent-socketio "
        f"(Socket.IO 0.9, this one) and python-socketio ({', '.join(found)} are "
        "its files). Each overwrites the other's modules, and uninstalling "
        "either breaks the other. Fix: pip uninstall python-socketio "
        "gevent-socketio, then reinstall gevent-socketio, and keep "
        "python-socketio (or Flask-SocketIO) in another virtualenv.",
        MixedPackageWarning,
        stacklevel=2,
    )
    return False
