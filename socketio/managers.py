"""Managers by name: ``SocketIOServer(manager=...)`` takes an instance, a URL or ``None``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Union

from .exceptions import ConfigError
from .manager import BaseManager, MemoryManager

__all__ = ["MANAGER_SCHEMES", "make_manager"]


def _redis_manager(url: str) -> BaseManager:
    from .redis_manager import RedisManager  # lazily: redis-py is optional

    return RedisManager(url)


#: URL scheme → manager factory, for ``SocketIOServer(manager='<url>')``.
MANAGER_SCHEMES: dict[str, Callable[[str], BaseManager]] = {
    "memory": lambda url: MemoryManager(),
    "redis": _redis_manager,
    "rediss": _redis_manager,
    "unix": _redis_manager,
}


def make_manager(manager: Union[BaseManager, str, None]) -> BaseManager:
    """The manager for ``SocketIOServer(manager=...)``: an instance, a URL, or ``None``.

    ``None`` gives a :class:`~socketio.manager.MemoryManager`; a URL whose
    scheme is in :data:`MANAGER_SCHEMES` (``redis://host:6379/0``,
    ``rediss://``, ``unix://``, ``memory://``) builds one.

    Raises:
        ConfigError: an unknown scheme, or the backend cannot be used (see
            :class:`~socketio.redis_manager.RedisManager`).
    """
    if manager is None:
        return MemoryManager()
    if isinstance(manager, str):
        scheme = manager.partition("://")[0].lower()
        factory = MANAGER_SCHEMES.get(scheme)
        if factory is None or "://" not in manager:
            raise ConfigError(
                f"manager: unsupported URL {manager!r}; use one of "
                + ", ".join(f"{name}://" for name in MANAGER_SCHEMES)
            )
        return factory(manager)
    return manager
