"""The per-token rate limit's counts, shared by every server on the database.

api.ratelimit counts each token's requests in the process and decides there, with no database
round trip per request; ``RequestCounts`` is its ``Exchange``: about once a second
(``RequestCountsFlusher``, a thread of the serving process) the new counts go to the
``failures`` table (migration 0012: rows of a target and a fixed window; here the target is a
keyed hash of the token's id, never the token), in one transaction that also reads back every
process's totals of those windows. The first flush of each window in a process also prunes the
rows that weigh nothing any more (``expires``, failures' too), so the table does not grow with
the hours even on a server that never sees a failure.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence

from sqlalchemy import Connection

from stacksafe.api.ratelimit import NewCounts, SlidingWindow
from stacksafe.core.server_keys import TOKEN_HASH, keyed_hash
from stacksafe.core.vault import Vault, utc_now
from stacksafe.store import failures as queries

__all__ = ["FLUSH_SECONDS", "RequestCounts", "RequestCountsFlusher", "shared_window"]

FLUSH_SECONDS = 1.0  # how often a serving process shares its counts (the overshoot's bound)
KIND = b"token-requests"  # hashed into the target: never the same row as a failure's

log = logging.getLogger(__name__)


def shared_window(vault: Vault, limit: int, window: float) -> SlidingWindow:
    """A window over the vault's clock (epoch seconds: the same windows on every server)
    whose counts ``RequestCounts(vault, window)`` shares."""

    def now() -> float:
        # Every valid request reads it: the system clock's seconds directly (a fraction of
        # what building a datetime costs), the vault's clock when a test has set one.
        clock = vault.clock
        return time.time() if clock is utc_now else clock().timestamp()

    return SlidingWindow(limit, window, now, shared=True)


class RequestCounts:
    """Adds new counts to the database and answers the totals (an ``api.ratelimit.Exchange``)."""

    def __init__(self, vault: Vault, window: float) -> None:
        self.vault = vault
        self.window = window
        self._pruned = -1  # the last window this process pruned in

    def __call__(self, index: int, batch: Sequence[NewCounts]) -> Mapping[str, tuple[int, int]]:
        hasher = keyed_hash(self.vault, TOKEN_HASH)
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

        found = self.vault.store.transact(work, "sharing request counts")
        self._pruned = index
        return {
            key: (found.get((target, index - 1), 0), found.get((target, index), 0))
            for target, key in targets.items()
        }


class RequestCountsFlusher:
    """A thread that flushes ``window`` through ``RequestCounts`` every ``interval`` seconds,
    and once more when stopped."""

    def __init__(
        self, window: SlidingWindow, counts: RequestCounts, interval: float = FLUSH_SECONDS
    ) -> None:
        self.window = window
        self.counts = counts
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="request-counts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._flush()

    def _flush(self) -> None:
        try:
            self.window.flush(self.counts)
        except Exception:  # the counts stay unsent and go with the next flush
            log.warning("sharing the request counts failed; retrying", exc_info=True)
