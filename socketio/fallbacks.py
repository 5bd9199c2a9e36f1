"""Ids of websocket sessions the application left unserved, kept for the client's next transport.

When an application returns without serving a websocket's session (its
router sent the request elsewhere), the websocket closes before the client
was told ``1::``. A 0.9 client then waits for its connect timeout and tries
its next transport *with the same session id*; :class:`UngreetedIds` keeps
that id for a while, so that the polling request is served as a new session
rather than told "not handshaken" (after which the client would start over,
and could be booted by a late answer to its first try).
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["UngreetedIds"]


class UngreetedIds:
    """Session ids, each claimable once until its expiry, at most ``cap`` of them (oldest dropped)."""

    __slots__ = ("_expiries",)

    def __init__(self) -> None:
        self._expiries: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiries)

    def keep(self, sessid: str, now: float, ttl: float, cap: int) -> None:
        """Keep ``sessid`` claimable until ``now + ttl`` (monotonic seconds)."""
        expiries = self._expiries
        while expiries:  # (kept in the order of their expiry: the same ttl for all)
            first, expiry = next(iter(expiries.items()))
            if expiry >= now:
                break
            del expiries[first]
        expiries.pop(sessid, None)
        expiries[sessid] = now + ttl
        while len(expiries) > max(cap, 1):
            expiries.popitem(last=False)

    def take(self, sessid: str, now: float) -> bool:
        """Whether ``sessid`` was kept and has not expired; it is forgotten either way."""
        expiry = self._expiries.pop(sessid, None)
        return expiry is not None and expiry >= now
