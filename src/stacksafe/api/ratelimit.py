"""Per-token request limits (Cloud66: 3,000 per hour) and throttling of repeated bad tokens.

Counters live in the process: with several server processes, each enforces the limit on the
requests it sees (documented in docs/api.md).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["SlidingWindow"]


class SlidingWindow:
    """At most ``limit`` hits per ``window`` seconds per key."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def hit(self, key: str) -> int | None:
        """Count a request; the remaining allowance, or None when the limit is reached."""
        now = self._clock()
        with self._lock:
            hits = self._trim(key, now)
            if len(hits) >= self.limit:
                return None
            hits.append(now)
            return self.limit - len(hits)

    def exceeded(self, key: str) -> bool:
        with self._lock:
            return len(self._trim(key, self._clock())) >= self.limit

    def reset_in(self, key: str) -> int:
        with self._lock:
            hits = self._hits.get(key)
            if not hits:
                return 0
            return max(0, int(hits[0] + self.window - self._clock()) + 1)
