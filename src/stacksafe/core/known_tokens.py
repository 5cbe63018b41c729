"""Tokens this process has authenticated, kept while the database says nothing about them changed.

Every API request names a token. Checking one costs two queries (the token with its user, then the
user's roles) in a transaction of its own; on the hot read that was a sixth of the server's CPU.
Database triggers replace one revision whenever a row of ``users``, ``tokens``, ``memberships``
or ``stack_roles`` changes (migration 0008), whoever changes it: this server, another server on
the same database, or plain SQL. A request reads that revision (one small query) and uses the
principal kept for its token only when the revision is the one it was kept under. So a revoked
token, a removed role or a deleted user is refused on the very next request to any server, as
before; nothing is trusted by time. Expiry is checked on every use against the clock.

Only principals are kept (names, ids, roles, scopes), never a token: entries are found by the
token's keyed hash, which the database holds too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stacksafe.core.access import Principal

__all__ = ["KnownTokens"]

# Far more tokens than one server sees in use at once; a full cache forgets the least recent.
DEFAULT_LIMIT = 10_000


class KnownTokens:
    """Principals by token hash, each labelled with the principals revision it was read at."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[str, Principal]] = OrderedDict()
        # Lookups that found a principal, and that did not (counted under the lock: metrics).
        self.hits = 0
        self.misses = 0

    def get(self, token_hash: bytes, revision: str) -> Principal | None:
        """The principal kept for ``token_hash`` if it was read at ``revision``."""
        with self._lock:
            entry = self._entries.get(token_hash)
            if entry is None:
                self.misses += 1
                return None
            if entry[0] != revision:
                del self._entries[token_hash]
                self.misses += 1
                return None
            self._entries.move_to_end(token_hash)
            self.hits += 1
            return entry[1]

    def keep(self, token_hash: bytes, revision: str, principal: Principal) -> None:
        with self._lock:
            self._entries[token_hash] = (revision, principal)
            self._entries.move_to_end(token_hash)
            while len(self._entries) > self._limit:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"KnownTokens({len(self._entries)} of {self._limit})"
