"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gevent.socket
import pytest


@pytest.fixture
def socket_pair() -> Iterator[tuple[Any, Any]]:
    """Two connected gevent sockets, closed after the test."""
    a, b = gevent.socket.socketpair()
    yield a, b
    a.close()
    b.close()
