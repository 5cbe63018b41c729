"""Response bodies of secret lists, kept per level revision: a page is rendered once.

Most reads of a stack find exactly what the last one found (core.read_cache keeps the level as
opened); rendering its JSON again each time would cost more than the read. When core.reveal
says the secrets are a whole kept level (``Revealed.snapshot``: the level and its revision),
the body rendered for a query is kept under that snapshot and the query, and given again until
the level changes. A body of a level's older revision is dropped as soon as one of a newer
revision is kept: it can never be given again, and a revealed page holds plaintext (as the read
cache does), which must not outlive the value it shows. Bounded in bytes besides, least
recently used out first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

from stacksafe.core.reveal import Revealed, Snapshot
from stacksafe.model import Secret

__all__ = ["RenderedPages"]


class RenderedPages:
    """Rendered bodies by (snapshot, what else the rendering depends on); thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._bodies: OrderedDict[tuple[Snapshot, Hashable], bytes] = OrderedDict()
        # The revision kept of each level, and the keys of its bodies.
        self._kept: dict[Hashable, tuple[str, set[tuple[Snapshot, Hashable]]]] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        # Bodies given again, and rendered (or asked for and not kept): for metrics.
        self.hits = 0
        self.misses = 0

    def body(
        self,
        revealed: Revealed,
        shape: Hashable,
        render: Callable[[Sequence[Secret]], bytes],
    ) -> bytes:
        """``render(revealed.secrets)``, made once per snapshot and ``shape`` (the query's
        parts that change the body) while kept. Sends nothing: the caller still waits for
        the receipt."""
        if revealed.snapshot is None or self.max_bytes <= 0:
            return render(revealed.secrets)
        key = (revealed.snapshot, shape)
        with self._lock:
            found = self._bodies.get(key)
            if found is not None:
                self._bodies.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        made = render(revealed.secrets)  # outside the lock: a lost race renders twice
        with self._lock:
            snapshot = revealed.snapshot
            revision, keys = self._kept.get(snapshot.level, (snapshot.revision, set()))
            if revision != snapshot.revision:  # the level changed: its older bodies go
                for older in list(keys):
                    self._drop(older)
                keys = set()
            self._drop(key)
            if len(made) <= self.max_bytes:
                self._bodies[key] = made
                self._bytes += len(made)
                keys.add(key)
                self._kept[snapshot.level] = (snapshot.revision, keys)
                while self._bytes > self.max_bytes:
                    self._drop(next(iter(self._bodies)))
        return made

    def kept(self, snapshot: Snapshot, shape: Hashable) -> bytes | None:
        """The body kept for ``snapshot`` and ``shape``, if any (an at-hand read's check)."""
        with self._lock:
            found = self._bodies.get((snapshot, shape))
            # A miss is counted by the ``body`` that renders it next, not twice.
            if found is not None:
                self.hits += 1
            return found

    def _drop(self, key: tuple[Snapshot, Hashable]) -> None:
        """Forget one body (called with the lock held)."""
        dropped = self._bodies.pop(key, None)
        if dropped is None:
            return
        self._bytes -= len(dropped)
        level = key[0].level
        revision, keys = self._kept[level]
        keys.discard(key)
        if not keys and revision == key[0].revision:
            del self._kept[level]

    @property
    def kept_bytes(self) -> int:
        with self._lock:
            return self._bytes
