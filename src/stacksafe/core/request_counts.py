"""The per-token rate limit's counts, shared by every server on the database.

The API counts each token's requests in the process and decides there (api.ratelimit), with no
database round trip per request; ``RequestCounts`` is how those counts are exchanged: about once
a second the new counts go to the ``failures`` table (migration 0012: rows of a target and a
fixed window; here the target is a keyed hash of the token's id, never the token), in one
transaction that also reads back every process's totals of those windows. The first exchange of
each window in a process also prunes the rows that weigh nothing any more (``expires``,
failures' too), so the table does not grow with the hours even on a server that never sees a
failure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from stacksafe.core.installation import Installation
from stacksafe.core.server_keys import TOKEN_HASH, keyed_hash
from stacksafe.store import Connection
from stacksafe.store import failures as queries

__all__ = ["KIND", "NewCounts", "RequestCounts"]

KIND = b"token-requests"  # hashed into the target: never the same row as a failure's
# A key (the token's id), its new count in the previous window and in the current one.
NewCounts = tuple[str, int, int]


class RequestCounts:
    """Adds new counts to the database and answers every process's totals (what
    ``api.ratelimit`` exchanges its counts with)."""

    def __init__(self, installation: Installation, window: float) -> None:
        self.installation = installation
        self.window = window
        self._pruned = -1  # the last window this process pruned in

    def __call__(self, index: int, batch: Sequence[NewCounts]) -> Mapping[str, tuple[int, int]]:
        hasher = keyed_hash(self.installation, TOKEN_HASH)
        expires = math.ceil((index + 2) * self.window)  # when the current one weighs nothing
        targets: dict[bytes, str] = {}
        rows: list[tuple[bytes, int, int, int]] = []
        for key, new_previous, new_current in batch:
            target = hasher.digest(b"failures", KIND, key.encode())
            targets[target] = key
            rows.append((target, index - 1, new_previous, expires - math.ceil(self.window)))
            rows.append((target, index, new_current, expires))

        prune = index != self._pruned

        def work(conn: Connection) -> dict[tuple[bytes, int], int]:
            if prune:  # rows expired by this window's start (another process may do it too)
                queries.prune_failures(conn, math.floor(index * self.window))
            queries.add_counts(conn, rows)
            return queries.counts_of(conn, list(targets), (index - 1, index))

        found = self.installation.store.transact(work, "sharing request counts")
        self._pruned = index
        return {
            key: (found.get((target, index - 1), 0), found.get((target, index), 0))
            for target, key in targets.items()
        }
