"""Waiting on the event loop for an audit event (api.durable): one wake-up of the loop per
group commit, a failure learnt by every waiter, a cancelled request's event written anyway;
and for a write handed to the write group (``settled``): its own result or its own error.

Over a real store.CommitGroup on SQLite and PostgreSQL, as the audit log uses it, and the
store's write group on SQLite."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import pytest

from stacksafe.api.durable import durable, settled
from stacksafe.core.reveal import Receipt
from stacksafe.store import Store
from stacksafe.store.commit_group import CommitGroup
from tests.store.scratch import stored, wait_until
from tests.store.test_commit_group import Recorder, held_first_group, store

__all__ = ["store"]  # the fixture, shared with tests/store/test_commit_group.py


def wakeups_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the calls into the running loop from other threads, from now on."""
    loop = asyncio.get_running_loop()
    calls: list[int] = []
    threadsafe = loop.call_soon_threadsafe

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return threadsafe(*args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    return calls


def test_a_groups_receipts_completed_while_the_loop_is_busy_wake_it_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = Recorder()
    group: CommitGroup[int, int] = CommitGroup(store, write, "test")

    async def run() -> tuple[list[bool], list[int], int]:
        calls = wakeups_counted(monkeypatch)
        with ThreadPoolExecutor(1) as pool:
            first, _ = held_first_group(pool, group, write, 0, range(0))
            futures = [group.submit_later(n) for n in range(1, 9)]
            waits = [asyncio.ensure_future(durable(Receipt(f))) for f in futures]
            await asyncio.sleep(0)  # nothing may complete before the commit
            before = [w.done() for w in waits]
            write.hold_first.set()
            # The loop is busy (blocked here) while the group completes: however the writer
            # thread is scheduled meanwhile, its eight completions must cost one wake-up.
            assert first.result(30) == 0
            done, _ = wait(futures, timeout=30)
            assert len(done) == 8
            await asyncio.gather(*waits)
        return before, [f.result() for f in futures], len(calls)

    before, results, calls = asyncio.run(run())
    assert before == [False] * 8
    assert results == [n * n for n in range(1, 9)]
    assert sorted(write.groups[1]) == list(range(1, 9))  # one transaction for the 8
    assert calls == 1  # one wake-up of the loop for the group, not one per request
    assert stored(store) == list(range(9))


def test_a_failed_group_is_learnt_by_every_waiter_and_a_cancelled_wait_is_written(
    store: Store,
) -> None:
    write = Recorder()
    group: CommitGroup[int, int] = CommitGroup(store, write, "test")

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            first, _ = held_first_group(pool, group, write, 100, range(0))
            doomed = [Receipt(group.submit_later(n)) for n in range(1, 4)]
            write.fail_with = OSError("disk full")
            write.hold_first.set()
            for receipt in doomed:
                await durable(receipt)  # returns: the receipt then says what happened
                with pytest.raises(Exception, match="OSError"):
                    receipt.wait()
            with pytest.raises(OSError, match="disk full"):
                first.result(30)
        write.fail_with = None
        cancelled = asyncio.ensure_future(durable(Receipt(group.submit_later(7))))
        kept = Receipt(group.submit_later(8))
        await asyncio.sleep(0)
        cancelled.cancel()
        await durable(kept)
        kept.wait()

    asyncio.run(run())
    assert stored(store) == [7, 8]  # the cancelled request's item is written all the same


def test_no_event_means_no_wait() -> None:
    async def run() -> None:
        await durable(Receipt(None))

    asyncio.run(run())


def test_writes_handed_over_from_the_loop_settle_with_their_own_outcome_in_one_wake_up(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from sqlalchemy import Connection, text

    level = (1, None)  # on PostgreSQL a group is one level's writes
    group = store.write_group(level)
    assert group is not None
    started, release = threading.Event(), threading.Event()

    def holding(conn: Connection) -> int:
        started.set()
        assert release.wait(30)
        return 0

    def inserting(n: int) -> Any:
        def work(conn: Connection) -> int:
            conn.execute(text("INSERT INTO items (n) VALUES (:n)"), {"n": n})
            if n == 3:
                raise ValueError("three is refused")
            return n * n

        return work

    async def run() -> tuple[list[Any], int]:
        calls = wakeups_counted(monkeypatch)
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(store.transact, holding, "holding", grouped=True, level=level)
            assert started.wait(30)
            handed = [store.transact_later(inserting(n), f"w{n}", level) for n in range(1, 6)]
            futures = [f for f in handed if f is not None]
            assert len(futures) == 5
            wait_until(lambda: group.waiting == 5, "5 writes wait")
            waits = [asyncio.ensure_future(settled(f)) for f in futures]
            await asyncio.sleep(0)  # nothing may complete before the commit
            assert not any(w.done() for w in waits)
            release.set()
            # The loop is busy (blocked here) while the group completes: one wake-up.
            assert first.result(30) == 0
            done, _ = wait(futures, timeout=30)
            assert len(done) == 5
            outcomes = await asyncio.gather(*waits, return_exceptions=True)
        return outcomes, len(calls)

    outcomes, calls = asyncio.run(run())
    assert outcomes[:2] == [1, 4]
    assert isinstance(outcomes[2], ValueError)
    assert str(outcomes[2]) == "three is refused"
    assert outcomes[3:] == [16, 25]
    assert calls == 1  # one wake-up of the loop for the group
    assert stored(store) == [1, 2, 4, 5]  # nothing of the refused write
