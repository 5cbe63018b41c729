"""A small fixed pool for password hashing, with a bounded queue.

Argon2 is slow on purpose (a core for tens of milliseconds per check). Sign-in requests are
unauthenticated: checked on the server's request threads, a flood of them took those threads and the
CPU from the authenticated API (an owner's writes went from milliseconds to seconds;
bench/README.md, "Measured outside these scripts"). Here they take at most ``workers`` threads of
their own, and at most ``queue`` more wait; one more is refused at once (``Throttled``, with a
Retry-After), rather than queued without bound. Whoever submits does not wait on a thread of its
own: the web UI awaits the future on the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from stacksafe.errors import Throttled
from stacksafe.settings import DEFAULT_PASSWORD_QUEUE, DEFAULT_PASSWORD_WORKERS

__all__ = ["DEFAULT_QUEUE", "DEFAULT_WORKERS", "PasswordPool"]

T = TypeVar("T")

# One core at most for password checks: the API keeps the others (docs/operations.md).
# Eight waiting checks are under a second of work: a sign-in answered later than that is
# better refused with a Retry-After. STACKSAFE_PASSWORD_WORKERS and _QUEUE change them.
DEFAULT_WORKERS = DEFAULT_PASSWORD_WORKERS
DEFAULT_QUEUE = DEFAULT_PASSWORD_QUEUE
RETRY_AFTER = 1


class PasswordPool:
    """At most ``workers`` password checks at once, ``queue`` more waiting, none beyond."""

    def __init__(self, workers: int = DEFAULT_WORKERS, queue: int = DEFAULT_QUEUE) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("a password pool needs a worker and a queue of zero or more")
        self.workers = workers
        self.queue = queue
        self._room = threading.BoundedSemaphore(workers + queue)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="stacksafe-password")

    def submit(self, work: Callable[[], T]) -> Future[T]:
        """``work`` on the pool; ``Throttled`` at once when every worker and queue place is
        taken (nothing was started)."""
        if not self._room.acquire(blocking=False):
            raise Throttled(
                "the server is busy checking other sign-ins; retry in a second",
                retry_after=RETRY_AFTER,
            )
        try:
            future = self._executor.submit(work)
        except BaseException:
            self._room.release()
            raise
        future.add_done_callback(lambda _: self._room.release())
        return future

    def close(self) -> None:
        """Stop taking work; checks already queued are dropped."""
        self._executor.shutdown(wait=False, cancel_futures=True)
