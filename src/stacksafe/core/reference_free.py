"""Stack levels known to hold no ``${...}`` reference, each at the revision it was seen at.

A write to a stack must refuse a value that would expand too far or hold a broken reference
(core.expansion), which means opening every value of the stack and of its account to see
whether any holds a reference at all; almost always none does. What a write's check opened is
remembered here as the level's revision (``store.secrets.secrets_revision``: the account's and
the stack's, which database triggers replace on every change to their secrets, whoever makes
it) after that write. A later write that finds, under its lock on the level, the same revision,
and writes values without references, knows the check would find none either: nothing to open.

Nothing is trusted by time: a revision is random and never comes back, so one remembered from a
transaction that rolled back, or from before a change made behind the server's back, is simply
never met again. A stack's revision here covers its account's own values whatever the
environments they are restricted to, so a change of the stack's environment changes nothing.
"""

from __future__ import annotations

import threading

__all__ = ["MAX_LEVELS", "ReferenceFree"]

# Levels remembered at most (a few dozen bytes each); all forgotten at once past it.
MAX_LEVELS = 65_536


class ReferenceFree:
    """(account id, stack id) -> the revision at which no value of the level held a reference."""

    def __init__(self, max_levels: int = MAX_LEVELS) -> None:
        self._max_levels = max_levels
        self._revisions: dict[tuple[int, int], str] = {}
        self._lock = threading.Lock()

    def known(self, level: tuple[int, int], revision: str) -> bool:
        """Whether no value of ``level`` held a reference when it was at ``revision``."""
        with self._lock:
            return self._revisions.get(level) == revision

    def learn(self, level: tuple[int, int], revision: str, free: bool) -> None:
        """What a check saw of ``level`` at ``revision``: ``free`` of references or not."""
        with self._lock:
            if not free:
                self._revisions.pop(level, None)
                return
            if len(self._revisions) >= self._max_levels and level not in self._revisions:
                self._revisions.clear()  # cheaper than LRU bookkeeping; refills as written
            self._revisions[level] = revision
