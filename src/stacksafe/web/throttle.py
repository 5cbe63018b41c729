"""Failed sign-ins per (source address, email), counted in fixed windows, in this process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["FailureCounter", "sign_in_key"]


def sign_in_key(address: str, email: str) -> str:
    """What sign-in failures are counted by: the source address *and* the email as normalised
    (trimmed, case-folded), so that many users behind one proxy or NAT do not lock each other
    out, and changing the case of an email does not buy more guesses."""
    return f"{address}\x00{email.strip().casefold()}"


class FailureCounter:
    """At most ``limit`` failures per ``window`` seconds per key; the least recently seen keys
    are forgotten first, so the table stays bounded whoever tries.

    ``attempt`` counts an attempt *before* the password is checked (one check and count, under
    the lock), so concurrent requests cannot each slip in a guess past the limit; ``forgive``
    takes the attempt back when the password was right."""

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

    def __len__(self) -> int:
        return len(self._counts)

    def _window(self) -> int:
        return int(self._clock() // self.window)

    def exceeded(self, key: str) -> bool:
        with self._lock:
            window, count = self._counts.get(key, (-1, 0))
            return window == self._window() and count >= self.limit

    def attempt(self, key: str) -> bool:
        """Count an attempt; False (and nothing counted) when ``key`` is at its limit."""
        with self._lock:
            now = self._window()
            window, count = self._counts.pop(key, (now, 0))
            count = count if window == now else 0
            if count >= self.limit:
                self._counts[key] = (now, count)
                return False
            self._counts[key] = (now, count + 1)
            while len(self._counts) > self.max_keys:
                self._counts.popitem(last=False)
            return True

    def forgive(self, key: str) -> None:
        """Take back an attempt counted by ``attempt`` (the password was right)."""
        with self._lock:
            now = self._window()
            window, count = self._counts.get(key, (-1, 0))
            if window != now or count <= 1:
                self._counts.pop(key, None)
            else:
                self._counts[key] = (now, count - 1)
