"""The per-token rate limit shared by every server on the database: the window over the
installation's clock, and the thread of a serving process that exchanges its counts about once
a second
(``RequestCountsFlusher``) through ``core.request_counts.RequestCounts``."""

from __future__ import annotations

import logging
import threading
import time

from stacksafe.api.ratelimit import SlidingWindow
from stacksafe.core.installation import Installation, utc_now
from stacksafe.core.request_counts import RequestCounts

__all__ = ["FLUSH_SECONDS", "RequestCounts", "RequestCountsFlusher", "shared_window"]

FLUSH_SECONDS = 1.0  # how often a serving process shares its counts (the overshoot's bound)

log = logging.getLogger(__name__)


def shared_window(installation: Installation, limit: int, window: float) -> SlidingWindow:
    """A window over the installation's clock (epoch seconds: the same windows on every server)
    whose counts ``RequestCounts(installation, window)`` shares."""

    def now() -> float:
        # Every valid request reads it: the system clock's seconds directly (a fraction of
        # what building a datetime costs), the installation's clock when a test has set one.
        clock = installation.clock
        return time.time() if clock is utc_now else clock().timestamp()

    return SlidingWindow(limit, window, now, shared=True)


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
