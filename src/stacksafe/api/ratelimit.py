"""Per-token request limits (Cloud66: 3,000 per hour) and throttling of repeated bad tokens.

A sliding-window *counter* (the approach of Cloudflare's and Redis' rate limiters): each key keeps
the count of the current fixed window and of the previous one, and the estimate weighs the previous
count by how much of it the sliding window still covers. Memory is constant per key, whatever the
limit (a log of timestamps would hold 3.6 million of them for a limit of 1,000 per second), and the
number of keys is bounded: the least recently seen key is forgotten first, so clients rotating
through addresses cannot grow the table without end.

Counters live in the process: with several server processes, each enforces the limit on the
requests it sees, so N workers let a token make up to N times the limit (docs/api.md). Sharing
the counts between processes and servers belongs with the scale-out work.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["DEFAULT_MAX_KEYS", "SlidingWindow"]

DEFAULT_MAX_KEYS = 100_000


class _Count:
    __slots__ = ("current", "index", "previous")

    def __init__(self, index: int) -> None:
        self.index = index  # which fixed window ``current`` counts: floor(now / window)
        self.current = 0
        self.previous = 0


class SlidingWindow:
    """At most ``limit`` hits per ``window`` seconds per key (a sliding-window estimate)."""

    def __init__(
        self,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        if limit < 1 or window <= 0 or max_keys < 1:
            raise ValueError("limit, window and max_keys must be positive")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._counts: OrderedDict[str, _Count] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._counts)

    def _rolled(self, count: _Count, index: int) -> _Count:
        if index != count.index:
            count.previous = count.current if index == count.index + 1 else 0
            count.current = 0
            count.index = index
        return count

    def _estimate(self, count: _Count, now: float) -> float:
        # The part of the previous window the sliding window still covers; multiplied before
        # dividing, so whole seconds give exact figures.
        uncovered = now - count.index * self.window
        return count.previous * (self.window - uncovered) / self.window + count.current

    def hit(self, key: str) -> int | None:
        """Count a request; the remaining allowance, or None when the limit is reached."""
        now = self._clock()
        index = math.floor(now / self.window)
        with self._lock:
            count = self._counts.get(key)
            if count is None:
                count = self._counts[key] = _Count(index)
                while len(self._counts) > self.max_keys:
                    self._counts.popitem(last=False)
            else:
                self._counts.move_to_end(key)
                self._rolled(count, index)
            if self._estimate(count, now) + 1 > self.limit:
                return None
            count.current += 1
            return max(0, self.limit - math.ceil(self._estimate(count, now)))

    def exceeded(self, key: str) -> bool:
        """Whether ``key`` is at its limit now (without counting, or remembering, anything)."""
        now = self._clock()
        with self._lock:
            count = self._counts.get(key)
            if count is None:
                return False
            return self._estimate(self._rolled(count, math.floor(now / self.window)), now) >= (
                self.limit
            )

    def reset_in(self, key: str) -> int:
        """Seconds (rounded up) until ``key`` may make its next request."""
        now = self._clock()
        with self._lock:
            count = self._counts.get(key)
            if count is None:
                return 0
            self._rolled(count, math.floor(now / self.window))
            room = self.limit - 1 - count.current  # what the previous window may still weigh
            window_start = count.index * self.window
            if room < 0:  # full on its own: wait for the next window
                return math.ceil(window_start + self.window - now)
            if count.previous <= room:
                return 0
            # previous * (1 - elapsed / window) <= room, solved for elapsed.
            elapsed = self.window * (1.0 - room / count.previous)
            return max(0, math.ceil(window_start + elapsed - now))
