"""Group commit: writes submitted by concurrent threads, committed in one transaction."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar, cast

from sqlalchemy import Connection

from stacksafe.errors import StorageUnavailable
from stacksafe.store.outages import NOT_WRITTEN
from stacksafe.store.transactions import Store

__all__ = ["CommitGroup", "Failed", "Submitted"]

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class _Wake:
    """Wakes the one thread waiting behind an entry, once: a lock taken when made, released to
    wake it (what ``threading.Event`` does through a ``Condition`` of its own, measured at
    several per cent of a write's CPU when every member of a group paid for one)."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def wait(self) -> None:
        self._lock.acquire()

    def set(self) -> None:
        self._lock.release()


class Submitted(Generic[ItemT, ResultT]):
    __slots__ = ("error", "finished", "future", "item", "lead", "result", "wake")

    def __init__(self, item: ItemT, future: Future[ResultT] | None = None) -> None:
        self.item = item
        # A thread waits behind the entry (``submit``) unless a future tells the outcome.
        self.wake = _Wake() if future is None else None
        self.lead = False
        self.finished = False
        self.result: ResultT | None = None
        self.error: BaseException | None = None
        self.future = future  # ``submit_later``


class Failed:
    """A member's own failure, returned by a group's write in place of its result: the group
    committed, this member's item did not (store.write_group)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _settle(future: Future[ResultT], result: ResultT | None, failure: BaseException | None) -> None:
    """Complete ``future``, unless its waiter cancelled it: the item is written either way,
    and one cancelled member must not keep the rest of its group from learning the outcome."""
    if not future.set_running_or_notify_cancel():
        return
    if failure is None:
        future.set_result(cast(ResultT, result))
    else:
        future.set_exception(failure)


class CommitGroup(Generic[ItemT, ResultT]):
    """Writes submitted by concurrent threads, committed together: one transaction per group.

    ``submit`` returns once its item is durably committed, or raises what the group's
    transaction raised (as ``concurrent.futures.Future.result`` does, the same exception in
    every thread of the group). The first thread to arrive while no group is being written
    leads: it writes everything pending, itself included, in one ``Store.transact`` (one
    commit, so one fsync, for the group), then hands the lead to the oldest thread that arrived
    meanwhile. Under load, N waiting writers cost one transaction instead of N queued ones;
    alone, a submit costs what a plain transaction does. ``write`` gets the items in arrival
    order and returns one result per item; it may run more than once (``Store.transact``
    retries lost races), so it must do all its work inside the transaction it is given.
    ``submit_later`` joins the same groups without a thread waiting behind the item.
    ``observe(size, seconds, ok)``, if given, is told of every group written (for metrics:
    called after its members have learnt the outcome, so it never delays one).
    """

    def __init__(
        self,
        store: Store,
        write: Callable[[Connection, Sequence[ItemT]], Sequence[ResultT]],
        what: str,
        max_group: int = 256,
        observe: Callable[[int, float, bool], None] | None = None,
    ) -> None:
        self._store = store
        self._observe = observe
        self._write = write
        self._what = what
        self._max_group = max_group
        self._lock = threading.Lock()
        self._pending: deque[Submitted[ItemT, ResultT]] = deque()
        self._writing = False
        self._writer_wake: threading.Event | None = None
        self._closed = False

    def submit_later(self, item: ItemT) -> Future[ResultT]:
        """``submit`` without waiting: the future completes once ``item`` is durably
        committed (or fails as its group failed). For callers that can wait without a thread
        (an event loop): while they wait, the threads that would have waited serve others, and
        more items share each commit. The group commit's own thread writes when nobody else
        is writing."""
        entry: Submitted[ItemT, ResultT] = Submitted(item, Future())
        self._enqueue(entry)
        assert entry.future is not None  # noqa: S101 - made above
        return entry.future

    def _enqueue(self, entry: Submitted[ItemT, ResultT]) -> None:
        with self._lock:
            if self._closed:
                # A request the stopping server still answers: 503, nothing written.
                raise StorageUnavailable(f"the server is stopping; {NOT_WRITTEN}", "store closed")
            self._pending.append(entry)
            start = not self._writing
            if start:
                self._writing = entry.lead = True
        if start:
            self._writer().set()

    def _writer(self) -> threading.Event:
        """The event that wakes this group's writer thread (started on first use)."""
        with self._lock:
            if self._writer_wake is None:
                self._writer_wake = threading.Event()
                threading.Thread(
                    target=self._write_when_woken,
                    args=(self._writer_wake,),
                    name=f"commit-group {self._what}",
                    daemon=True,
                ).start()
            return self._writer_wake

    def _write_when_woken(self, wake: threading.Event) -> None:
        while True:
            wake.wait()
            wake.clear()
            if self._leads():
                # Whatever the group's write raised was delivered to every member; the thread
                # lives on for the next group.
                with contextlib.suppress(BaseException):
                    self._write_group()
            elif self._closed and not self.waiting:
                return
            # Woken by ``close`` while another thread leads: that leader writes what is
            # pending, and wakes this thread again once nothing is (``_write_group``).

    def _leads(self) -> bool:
        """Whether this group's writer thread was handed the next group: its first entry
        leads, and no thread waits behind it (``_enqueue``, ``_write_group``). Only then may
        it write, or two threads would lead at once."""
        with self._lock:
            head = self._pending[0] if self._pending else None
            return head is not None and head.lead and head.wake is None

    def close(self) -> None:
        """Let the writer thread end once nothing is pending (the store is closing)."""
        with self._lock:
            self._closed = True
            wake = self._writer_wake
        if wake is not None:
            wake.set()

    @property
    def waiting(self) -> int:
        """Items submitted and not yet taken into a group (for metrics and tests)."""
        with self._lock:
            return len(self._pending)

    def submit(self, item: ItemT) -> ResultT:
        entry: Submitted[ItemT, ResultT] = Submitted(item)
        with self._lock:
            self._pending.append(entry)
            if not self._writing:
                # Nobody is writing, so nothing else is pending: this entry is first in line.
                self._writing = entry.lead = True
        if not entry.lead:
            assert entry.wake is not None  # noqa: S101 - a submit's entry is waited for
            entry.wake.wait()  # until written by a leader, or made the leader
        if not entry.finished:
            self._write_group()  # leading, first in line: the group includes this entry
        if entry.error is not None:
            raise entry.error
        return cast(ResultT, entry.result)

    def _write_group(self) -> None:
        with self._lock:
            group = self._take(self._pending, self._max_group)
        failure: BaseException | None = None
        started = time.perf_counter()
        try:
            results = self._written([entry.item for entry in group])
            if len(results) != len(group):
                raise RuntimeError(f"{self._what}: {len(results)} results for {len(group)} items")
            for entry, result in zip(group, results, strict=True):
                if isinstance(result, Failed):
                    entry.error = result.error
                else:
                    entry.result = result
        except BaseException as exc:  # every waiter must learn the outcome
            failure = exc
        elapsed = time.perf_counter() - started
        for entry in group:
            if failure is not None:
                entry.error = self._failed(entry.item, failure)
            entry.finished = True
        with self._lock:
            successor = self._pending[0] if self._pending else None
            if successor is None:
                self._writing = False
            else:
                successor.lead = True
        for entry in group:
            if entry.wake is not None:
                if not entry.lead:  # a leading submit's own entry: nobody waits behind it
                    entry.wake.set()
            elif entry.future is not None:
                _settle(entry.future, entry.result, entry.error)
        if successor is not None:
            if successor.wake is not None:
                successor.wake.set()
            else:  # nobody waits behind it: the writer thread leads the next group
                self._writer().set()
        elif self._closed and self._writer_wake is not None:
            self._writer_wake.set()  # nothing left: the writer thread may end (``close``)
        if self._observe is not None:
            with contextlib.suppress(Exception):  # metrics never fail a write
                self._observe(len(group), elapsed, failure is None)
        if failure is not None and not isinstance(failure, Exception):
            raise failure  # KeyboardInterrupt and the like: the leader's thread stops

    def _take(
        self, pending: deque[Submitted[ItemT, ResultT]], most: int
    ) -> list[Submitted[ItemT, ResultT]]:
        """The next group, taken out of ``pending`` (under the lock, never empty): its oldest
        entries, ``most`` at most. Its first entry must be the oldest, which leads it."""
        return [pending.popleft() for _ in range(min(len(pending), most))]

    def _written(self, items: Sequence[ItemT]) -> Sequence[ResultT | Failed]:
        """The group's transaction: one result per item, or a member's own ``Failed``; what it
        raises fails every member (``_failed``)."""
        return self._store.transact(lambda conn: self._write(conn, items), self._what)

    def _failed(self, item: ItemT, failure: BaseException) -> BaseException:
        """What the member submitting ``item`` is told when its group's transaction failed."""
        del item  # the same for every member here
        return failure
