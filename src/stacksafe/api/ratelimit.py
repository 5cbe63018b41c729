"""Per-token request limits (Cloud66: 3,000 per hour).

A sliding-window *counter* (the approach of Cloudflare's and Redis' rate limiters): each key keeps
the count of the current fixed window and of the previous one, and the estimate weighs the previous
count by how much of it the sliding window still covers. Memory is constant per key, whatever the
limit (a log of timestamps would hold 3.6 million of them for a limit of 1,000 per second), and the
number of keys is bounded: the least recently seen key is forgotten first, so clients rotating
through addresses cannot grow the table without end.

Shared across servers without a database round trip per request: each process counts in its
own table and decides on its own counts plus the last-known counts of every other process on the
database. ``flush`` (api.request_counts.RequestCountsFlusher calls it about once a second, on a
thread of its own, off the request path) adds this process's new counts to the database, one
row per key and fixed window (``failures``, the keys hashed), and reads back the totals of the
same windows, which less this process's own part are the others'. The bound: a request another
process admits is known here after at most two flush intervals (its flush, then this process's
next one; a process learns a key's counts only when it has new counts of it to send, so a key it
has not seen for a while is known here within one interval of its next hit). So a key can exceed
its limit by at most what the other processes admit for it in two flush intervals, about two
seconds of its requests. Counts not yet flushed are lost when a process dies (a clean stop
flushes them) or forgets the key (the least recently seen of ``max_keys``).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

from stacksafe.core.request_counts import NewCounts

__all__ = ["DEFAULT_MAX_KEYS", "Exchange", "NewCounts", "SlidingWindow"]

DEFAULT_MAX_KEYS = 100_000


# Given the current window's index and the new counts, adds them to the shared counts and
# answers, per key, the totals of every process in the previous and in the current window.
Exchange = Callable[[int, Sequence[NewCounts]], Mapping[str, tuple[int, int]]]


class _Count:
    __slots__ = (
        "current",
        "index",
        "others",
        "others_previous",
        "previous",
        "sent",
        "sent_previous",
    )

    def __init__(self, index: int) -> None:
        self.index = index  # which fixed window ``current`` counts: floor(now / window)
        self.current = 0  # this process's hits in the window
        self.previous = 0
        self.sent = 0  # of which flushed to the shared counts
        self.sent_previous = 0
        self.others = 0  # other processes' hits in the window, as of the last flush
        self.others_previous = 0


class SlidingWindow:
    """At most ``limit`` hits per ``window`` seconds per key (a sliding-window estimate).

    ``shared``: the counts are flushed (``flush``) to be shared with other processes; the
    window's clock must then be the same for all of them (epoch seconds, not monotonic)."""

    def __init__(
        self,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = DEFAULT_MAX_KEYS,
        *,
        shared: bool = False,
    ) -> None:
        if limit < 1 or window <= 0 or max_keys < 1:
            raise ValueError("limit, window and max_keys must be positive")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._counts: OrderedDict[str, _Count] = OrderedDict()
        self._lock = threading.Lock()
        # Keys hit since the last flush (None: nothing is shared).
        self._unsent: set[str] | None = set() if shared else None
        self._flushing = threading.Lock()  # one flush at a time; never taken by ``hit``

    def __len__(self) -> int:
        return len(self._counts)

    @staticmethod
    def _rolled(count: _Count, index: int) -> _Count:
        """``count`` moved on to window ``index``; never back: a caller whose clock reading is
        older than another's (read before the lock, or a wall clock stepped back) keeps the
        newer window and its counts (moving back would zero them, and what was sent)."""
        if index > count.index:
            next_one = index == count.index + 1
            count.previous = count.current if next_one else 0
            count.sent_previous = count.sent if next_one else 0
            count.others_previous = count.others if next_one else 0
            count.current = count.sent = count.others = 0
            count.index = index
        return count

    def _estimate(self, count: _Count, now: float) -> float:
        # The part of the previous window the sliding window still covers; multiplied before
        # dividing, so whole seconds give exact figures.
        # Clamped: a reading older than the count's window (see ``_rolled``) is its start.
        uncovered = min(max(now - count.index * self.window, 0.0), self.window)
        previous = count.previous + count.others_previous
        return previous * (self.window - uncovered) / self.window + count.current + count.others

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
            # Bounded like the table, should nothing flush (an app that is not serving).
            if self._unsent is not None and len(self._unsent) < self.max_keys:
                self._unsent.add(key)
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
        """Seconds (rounded up) until ``key`` may make its next request (as far as this
        process knows the counts)."""
        now = self._clock()
        with self._lock:
            count = self._counts.get(key)
            if count is None:
                return 0
            self._rolled(count, math.floor(now / self.window))
            current = count.current + count.others
            previous = count.previous + count.others_previous
        window_start = count.index * self.window
        room = self.limit - 1 - current  # what the previous window may still weigh
        if room < 0:
            # Full on its own: wait for the next window, in which this one is the previous
            # and must fade until one more request fits.
            window_start, room, previous = window_start + self.window, self.limit - 1, current
        if previous <= room:
            return max(0, math.ceil(window_start - now))
        # previous * (1 - elapsed / window) <= room, solved for elapsed.
        elapsed = self.window * (1.0 - room / previous)
        return max(0, math.ceil(window_start + elapsed - now))

    def flush(self, exchange: Exchange) -> int:
        """Share the counts: hand the hits since the last flush to ``exchange`` and take the
        other processes' counts of those keys from its answer. The number of keys sent.

        Called off the request path (a thread, about once a second; tests call it). ``hit``
        waits for this process's table lock only while the new counts are taken and while
        the answer is applied, never during the exchange. When the exchange fails, the counts
        stay unsent and go with the next flush."""
        if self._unsent is None:
            raise ValueError("this window's counts are not shared")
        with self._flushing:
            index = math.floor(self._clock() / self.window)
            batch: list[NewCounts] = []
            with self._lock:
                keys, self._unsent = self._unsent, set()
                for key in keys:
                    count = self._counts.get(key)
                    if count is None:  # forgotten: its unsent counts with it
                        continue
                    if count.index > index:  # counted after this flush read the clock:
                        self._unsent.add(key)  # the next flush sends it, in its window
                        continue
                    self._rolled(count, index)
                    new_previous = count.previous - count.sent_previous
                    new_current = count.current - count.sent
                    if new_previous or new_current:
                        batch.append((key, new_previous, new_current))
                        count.sent_previous, count.sent = count.previous, count.current
            if not batch:
                return 0
            try:
                totals = exchange(index, batch)
            except BaseException:
                self._unsend(index, batch)
                raise
            with self._lock:
                for key, (total_previous, total_current) in totals.items():
                    count = self._counts.get(key)
                    if count is None:
                        continue
                    if count.index == index:
                        count.others = max(0, total_current - count.sent)
                        count.others_previous = max(0, total_previous - count.sent_previous)
                    elif count.index == index + 1:  # the window turned meanwhile
                        count.others_previous = max(0, total_current - count.sent_previous)
            return len(batch)

    def _unsend(self, index: int, batch: Sequence[NewCounts]) -> None:
        with self._lock:
            assert self._unsent is not None  # noqa: S101 - flush checked
            for key, new_previous, new_current in batch:
                count = self._counts.get(key)
                if count is None:
                    continue
                if count.index == index:
                    count.sent_previous -= new_previous
                    count.sent -= new_current
                elif count.index == index + 1:
                    count.sent_previous -= new_current
                self._unsent.add(key)
