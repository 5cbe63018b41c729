"""Opened secrets kept in memory, valid for as long as the database says they are current.

A reveal of a stack's 200 secrets decrypts 200 values; most reveals find exactly what the last
one found. This keeps what a read opened (authenticated and decrypted) per level, labelled with
the level's revision read in the same transaction as the rows. Database triggers replace the
revision on every change to the level's secrets (migration 0007), whoever makes it: this
server, another server on the same PostgreSQL, or plain SQL behind everyone's back. A reader
reads the revision first (one small query) and uses what is kept only when it is the same, so
nothing is trusted by time, and several servers need no messages between them.

What this changes for tampering: a stored row changed through SQL changes the revision, so the
next read opens the rows again and reports the tampering as before. A change written into the
database file without SQL (no trigger runs) is found when the level next changes, or when the
server restarts; until then readers get the values as they were authenticated, never the
tampered ones.

Plaintext held here is no more exposure than the process already has: it holds the master key,
which opens everything. The cache is bounded in bytes of plaintext (least recently used out
first) and can be turned off (``STACKSAFE_READ_CACHE_BYTES=0``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

from stacksafe.core.references import has_references
from stacksafe.model import Secret
from stacksafe.settings import DEFAULT_READ_CACHE_BYTES

__all__ = ["CachedLevel", "Level", "ReadCache"]

# Per kept secret, besides its plaintext: the tuple, strings and datetimes (measured:
# bench/README.md, reveal_bench.py).
OVERHEAD_BYTES = 600

# Memoized values kept per level (the detail of its reveal event, that
# detail as stored for each purpose asked lately).
MAX_DERIVED = 8
_MISSING = object()
T = TypeVar("T")

# (account id, stack id or None, the stack's environment or None): an effective set depends on
# the stack's environment (environment-restricted account secrets), so it is part of the key.
Level = tuple[int, int | None, str | None]


@dataclass(frozen=True, slots=True)
class CachedLevel:
    """The secrets of one level as read at ``revision``, values revealed, in read order."""

    revision: str
    # Not in the repr: a rendered page holds plaintext (the values themselves are SecretValue).
    revealed: tuple[Secret, ...] = field(repr=False)
    by_key: dict[str, Secret] = field(repr=False)
    size: int
    # Whether any value holds a ${...} reference (core.references), tested once.
    references: bool
    # What readers derive from the whole level, the same every time (see ``memo``).
    _derived: OrderedDict[Hashable, object] = field(default_factory=OrderedDict, repr=False)
    _described: list[tuple[Secret, ...]] = field(default_factory=list)
    _derive_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Told how many bytes ``memo`` keeps, or gives back (set by the cache that keeps this).
    _charge: list[Callable[[CachedLevel, int], None]] = field(default_factory=list, repr=False)

    @classmethod
    def of(cls, revision: str, revealed: Sequence[Secret]) -> CachedLevel:
        size = sum(
            OVERHEAD_BYTES + len(s.key) + len(s.value) + len(s.raw_value or "") for s in revealed
        )
        references = any(
            s.raw_value is not None and has_references(s.raw_value.reveal()) for s in revealed
        )
        return cls(revision, tuple(revealed), {s.key: s for s in revealed}, size, references)

    def memo(self, what: Hashable, make: Callable[[], T]) -> T:
        """``make()``, made once per ``what`` for this level at this revision: an audit
        event's detail, as a dict and as stored. A few are kept, the least recently used given up
        first (a page read on every request outlives the details of rare purposes). Made
        outside the lock, so ``memoized`` never waits for a make; a lost race makes one twice."""
        found = self.memoized(what)
        if found is not None:
            return cast(T, found)
        made = make()
        change = _bytes_of(made)
        with self._derive_lock:
            previous = self._derived.pop(what, _MISSING)
            if previous is not _MISSING:
                change -= _bytes_of(previous)
            while len(self._derived) >= MAX_DERIVED:
                _, dropped = self._derived.popitem(last=False)
                change -= _bytes_of(dropped)
            self._derived[what] = made
        for charge in self._charge:
            charge(self, change)
        return made

    def memoized(self, what: Hashable) -> object | None:
        """What ``memo(what, ...)`` made and still keeps, or None (nothing is made here,
        and nothing is waited for but a dictionary lookup)."""
        with self._derive_lock:
            found = self._derived.get(what, _MISSING)
            if found is _MISSING:
                return None
            self._derived.move_to_end(what)
        return found

    def secrets(self, key: str | None, reveal: bool) -> list[Secret]:
        """All (``key`` None) or the one named; with values only when ``reveal``."""
        if key is not None:
            found = self.by_key.get(key)
            if found is None:
                return []
            return [found if reveal else found._replace(raw_value=None)]
        if reveal:
            return list(self.revealed)
        if not self._described:  # made once; a lost race makes the same tuple twice
            self._described.append(tuple(s._replace(raw_value=None) for s in self.revealed))
        return list(self._described[0])


def _bytes_of(derived: object) -> int:
    """What a derived value adds to the cache's bound: a rendered page its length; an event's
    detail (keys, versions, fingerprints) nothing more than the per-secret overhead counted."""
    return len(derived) if isinstance(derived, bytes | str) else 0


class ReadCache:
    """Opened levels by ``Level``, at most ``max_bytes`` of them; thread-safe."""

    def __init__(self, max_bytes: int = DEFAULT_READ_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._levels: OrderedDict[Level, CachedLevel] = OrderedDict()
        # Bytes each kept level counts for: its values, plus what ``derived`` keeps for it.
        self._sizes: dict[Level, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, level: Level, revision: str) -> CachedLevel | None:
        """What was opened for ``level`` at exactly ``revision``, if it is kept."""
        with self._lock:
            found = self._levels.get(level)
            if found is None or found.revision != revision:
                self.misses += 1
                return None
            self._levels.move_to_end(level)
            self.hits += 1
            return found

    def put(self, level: Level, opened: CachedLevel) -> None:
        """Keep ``opened`` (replacing what ``level`` had); too big to keep: nothing is kept."""
        with self._lock:
            self._drop(level)
            if opened.size > self.max_bytes:
                return
            self._levels[level] = opened
            self._sizes[level] = opened.size
            self._bytes += opened.size
            opened._charge.append(lambda kept, change: self._charged(level, kept, change))
            self._fit()

    def _charged(self, level: Level, kept: CachedLevel, change: int) -> None:
        """``kept`` (if still kept for ``level``) keeps ``change`` more bytes of derived values."""
        with self._lock:
            if self._levels.get(level) is not kept:
                return
            self._sizes[level] += change
            self._bytes += change
            self._fit()

    def _fit(self) -> None:
        while self._bytes > self.max_bytes and self._levels:
            self._drop(next(iter(self._levels)))

    def clear(self) -> None:
        with self._lock:
            self._levels.clear()
            self._sizes.clear()
            self._bytes = 0

    @property
    def kept_bytes(self) -> int:
        with self._lock:
            return self._bytes

    def _drop(self, level: Level) -> None:
        if self._levels.pop(level, None) is not None:
            self._bytes -= self._sizes.pop(level)
