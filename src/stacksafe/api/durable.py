"""Waiting on the event loop, without a thread, until a group commit's thread is done: a
reveal's audit event durable, a write committed.

A reveal's receipt (core.reveal.Receipt) is completed by the thread that commits its group of
audit events (store.CommitGroup): the events of many requests at once; a write's future
(store.Store.transact_later) by the thread that commits its group of writes. This wakes the
loop once per batch of completions, not once per request: the writer thread queues the loop's
futures and schedules one call into the loop while none is scheduled.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from stacksafe.core.reveal import Receipt

__all__ = ["durable", "settled"]

T = TypeVar("T")


class _Wakeups:
    """The futures of one loop whose events are durable, settled by one call into the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._ready: deque[asyncio.Future[None]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def ready(self, future: asyncio.Future[None]) -> None:
        """From any thread: ``future``'s event is durable (or failed)."""
        with self._lock:
            self._ready.append(future)
            if self._scheduled:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        with self._lock:
            self._scheduled = False
            ready, self._ready = self._ready, deque()
        for future in ready:
            if not future.done():  # its request may have been cancelled meanwhile
                future.set_result(None)


_WAKEUPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Wakeups] = (
    weakref.WeakKeyDictionary()
)


async def durable(receipt: Receipt) -> None:
    """Return once ``receipt``'s event is durable or has failed (``result()`` then says
    which, without blocking). A cancelled request abandons only its wait: the event is
    written with its group all the same."""
    if receipt.pending:
        await _woken(receipt.when_durable)


async def settled(future: Future[T]) -> T:
    """``future``'s result once a group commit's thread completed it (a write committed,
    store.Store.transact_later), or its exception. A cancelled request abandons only its
    wait: the write is committed with its group all the same."""
    if not future.done():
        await _woken(lambda callback: future.add_done_callback(lambda _: callback()))
    return future.result()  # done: never blocks


async def _woken(when_done: Callable[[Callable[[], None]], None]) -> None:
    """Wait until ``when_done``'s callback is called, from whatever thread calls it."""
    loop = asyncio.get_running_loop()
    wakeups = _WAKEUPS.get(loop)
    if wakeups is None:
        wakeups = _WAKEUPS.setdefault(loop, _Wakeups(loop))
    waiter: asyncio.Future[None] = loop.create_future()
    when_done(lambda: wakeups.ready(waiter))
    await waiter
