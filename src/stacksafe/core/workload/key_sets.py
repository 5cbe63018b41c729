"""Issuers' key sets as this process keeps them: by issuer, as stored at ``updated_at``, and
when each was last fetched again, so that tokens with made-up ``kid`` values cannot make the
server hammer the issuer (at most one fetch per ``REFRESH_SECONDS`` per issuer).

Apart from ``core.workload.keys`` (which fetches them over HTTPS) because every installation
holds one of these: a process that never checks a JWT (a local CLI command) need not import
httpx or joserfc to build it (bench/README.md, "Start-up")."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stacksafe.crypto.jwt import JwkSet

__all__ = ["REFRESH_SECONDS", "IssuerKeys"]

REFRESH_SECONDS = 10.0


class IssuerKeys:
    """The key sets of issuers by id, as stored at ``updated_at``, and when each was last
    fetched again. Thread-safe. An id is a workload issuer's row id, or any other hashable
    name of a key set (the people's sign-in issuer: core.oidc)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sets: dict[Hashable, tuple[datetime, JwkSet]] = {}
        self._fetched: dict[Hashable, float] = {}

    def of(self, issuer_id: Hashable, updated_at: datetime, jwks: str) -> JwkSet:
        with self._lock:
            kept = self._sets.get(issuer_id)
        if kept is not None and kept[0] >= updated_at:
            return kept[1]
        # Here, not at the top: joserfc is imported only by a process that checks a JWT.
        from stacksafe.crypto.jwt import JwkSet

        keys = JwkSet(jwks, "the stored key set")
        self.keep(issuer_id, updated_at, keys)
        return keys

    def keep(self, issuer_id: Hashable, updated_at: datetime, keys: JwkSet) -> None:
        with self._lock:
            self._sets[issuer_id] = (updated_at, keys)

    def may_fetch(self, issuer_id: Hashable) -> bool:
        """Whether the issuer's keys may be fetched again now (and, if so, note that they are)."""
        now = time.monotonic()
        with self._lock:
            last = self._fetched.get(issuer_id)
            if last is not None and now - last < REFRESH_SECONDS:
                return False
            self._fetched[issuer_id] = now
            return True
