"""Failed sign-ins per source address, counted in fixed windows, in this process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["FailureCounter"]


class FailureCounter:
    """At most ``limit`` failures per ``window`` seconds per address; the least recently seen
    addresses are forgotten first, so the table stays bounded whoever tries."""

    def __init__(
        self,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._counts: OrderedDict[str, tuple[int, int]] = OrderedDict()  # key -> (window, count)
        self._lock = threading.Lock()

    def _window(self) -> int:
        return int(self._clock() // self.window)

    def exceeded(self, key: str) -> bool:
        with self._lock:
            window, count = self._counts.get(key, (-1, 0))
            return window == self._window() and count >= self.limit

    def hit(self, key: str) -> None:
        with self._lock:
            now = self._window()
            window, count = self._counts.pop(key, (now, 0))
            self._counts[key] = (now, (count if window == now else 0) + 1)
            while len(self._counts) > self.max_keys:
                self._counts.popitem(last=False)
