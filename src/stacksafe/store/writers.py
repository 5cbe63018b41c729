"""PostgreSQL's writer threads: a request's write handed over from the event loop, each in a
transaction of its own, its outcome a future.

SQLite's writes handed over from the loop join its group commit (store.write_group). PostgreSQL
locks rows, not the database, so its writes stay transactions of their own
(``Store.transact``, retries and all), run by a few threads kept for them. The loop waits on
the future without a thread of its own (api.durable.settled: one wake-up per batch of
completions), where anyio's hop to a worker thread cost a limiter, a task and a wake-up of the
loop per write (bench/README.md, server_cpu.py --task write --pg).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection

if TYPE_CHECKING:
    from stacksafe.store.transactions import Store

__all__ = ["WRITER_THREADS", "Writers"]

T = TypeVar("T")

# Writes in flight at once, as many as the pool's connections (store.engine.PoolLimits: 8 + 8
# overflow): each waits on its round trips and its COMMIT's flush with the GIL released, and
# writes to different levels (and a level's, up to its row lock) overlap those waits. Fewer
# threads left the connections idle and the writes queued (bench/README.md).
WRITER_THREADS = 16


class Writers:
    """The threads that run a store's writes handed over from the event loop."""

    def __init__(self, store: Store, threads: int = WRITER_THREADS) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="stacksafe-writer")

    def transact_later(self, work: Callable[[Connection], T], what: str) -> Future[T]:
        """``Store.transact(work, what)`` on a writer thread, in the submitter's ``contextvars``
        context (request ids, the metrics' face): a future of its result once committed, or of
        what ``transact`` raised."""
        context = contextvars.copy_context()
        return self._pool.submit(context.run, self._store.transact, work, what)

    def close(self) -> None:
        """Run the writes already handed over, then let the threads end."""
        self._pool.shutdown(wait=True)
