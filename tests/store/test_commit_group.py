"""Group commit: concurrent submitters share one transaction, each returns only once its item
is committed, and a failed group fails every one of its submitters (and only them)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from stacksafe.errors import StorageUnavailable
from stacksafe.store import Store
from stacksafe.store.commit_group import CommitGroup
from stacksafe.store.transactions import RetryWrite
from tests.store.scratch import scratch_store, stored, wait_until


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    with scratch_store(database_url, tmp_path) as store:
        yield store


class Recorder:
    """A write that inserts its items and returns each one's square; it can be held or failed."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.hold_first = threading.Event()
        self.first_started = threading.Event()
        self.holding = False
        self.fail_with: Exception | None = None
        self.retry_once = False

    def __call__(self, conn: Connection, items: Sequence[int]) -> list[int]:
        if self.holding and not self.groups:
            self.first_started.set()
            assert self.hold_first.wait(30), "the test never released the first group"
        for n in items:
            conn.execute(text("INSERT INTO items (n) VALUES (:n)"), {"n": n})
        if self.retry_once:
            self.retry_once = False
            raise RetryWrite  # Store.transact rolls back and runs the write again
        if self.fail_with is not None:
            raise self.fail_with
        self.groups.append(list(items))
        return [n * n for n in items]


def held_first_group(
    pool: ThreadPoolExecutor, group: CommitGroup[int, int], write: Recorder, first: int, more: range
) -> tuple[Future[int], list[Future[int]]]:
    """Submit ``first`` and hold its write; then submit ``more``, which queue behind it."""
    write.holding = True
    leader = pool.submit(group.submit, first)
    assert write.first_started.wait(30), "the first submit never started writing"
    rest = [pool.submit(group.submit, n) for n in more]
    wait_until(lambda: group.waiting == len(rest), f"{len(rest)} submitters wait")
    return leader, rest


def test_alone_a_submit_is_one_transaction_and_returns_its_result(store: Store) -> None:
    write = Recorder()
    group: CommitGroup[int, int] = CommitGroup(store, write, "test")

    assert group.submit(3) == 9
    assert group.submit(4) == 16
    assert write.groups == [[3], [4]]
    assert stored(store) == [3, 4]
    assert group.waiting == 0


def test_submitters_arriving_during_a_write_share_the_next_transaction(store: Store) -> None:
    write = Recorder()
    group: CommitGroup[int, int] = CommitGroup(store, write, "test")
    with ThreadPoolExecutor(17) as pool:
        first, rest = held_first_group(pool, group, write, 0, range(1, 17))
        assert not any(f.done() for f in (first, *rest))  # nobody returns before its commit
        write.hold_first.set()
        assert [f.result(30) for f in (first, *rest)] == [n * n for n in range(17)]

    assert write.groups[0] == [0]
    assert sorted(write.groups[1]) == list(range(1, 17))
    assert len(write.groups) == 2  # 17 items, 2 transactions
    assert stored(store) == list(range(17))


def test_a_failed_group_fails_each_of_its_submitters_and_commits_none(store: Store) -> None:
    write = Recorder()
    group: CommitGroup[int, int] = CommitGroup(store, write, "test")
    with ThreadPoolExecutor(9) as pool:
        first, doomed = held_first_group(pool, group, write, 100, range(1, 9))
        write.fail_with = OSError("disk full")
        write.hold_first.set()
        for future in (first, *doomed):
            with pytest.raises(OSError, match="disk full"):
                future.result(30)

    assert stored(store) == []
    write.fail_with = None
    assert group.submit(7) == 49  # the next submitter leads again
    assert stored(store) == [7]


def test_a_retried_transaction_commits_each_item_once(store: Store) -> None:
    write = Recorder()
    write.retry_once = True
    group: CommitGroup[int, int] = CommitGroup(store, write, "test")

    assert group.submit(5) == 25
    assert stored(store) == [5]


def test_many_threads_hammering_lose_nothing_and_duplicate_nothing(store: Store) -> None:
    write = Recorder()
    group: CommitGroup[int, int] = CommitGroup(store, write, "test", max_group=7)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(group.submit, range(400)))

    assert results == [n * n for n in range(400)]
    assert stored(store) == list(range(400))
    assert max(len(g) for g in write.groups) <= 7
    assert sorted(n for g in write.groups for n in g) == list(range(400))


def test_submit_later_completes_once_committed_and_shares_groups(store: Store) -> None:
    write = Recorder()
    group: CommitGroup[int, int] = CommitGroup(store, write, "test")
    with ThreadPoolExecutor(2) as pool:
        first, _ = held_first_group(pool, group, write, 0, range(0))
        later = [group.submit_later(n) for n in range(1, 9)]
        blocking = pool.submit(group.submit, 9)
        wait_until(lambda: group.waiting == 9, "9 items wait behind the held group")
        assert not any(f.done() for f in later)  # nothing completes before its commit
        write.hold_first.set()
        assert [f.result(30) for f in later] == [n * n for n in range(1, 9)]
        assert blocking.result(30) == 81
        assert first.result(30) == 0
    assert write.groups[0] == [0]
    assert sorted(write.groups[1]) == list(range(1, 10))  # one transaction for the 9
    assert stored(store) == list(range(10))


def test_submit_later_alone_is_written_by_the_groups_own_thread(store: Store) -> None:
    write = Recorder()
    group: CommitGroup[int, int] = CommitGroup(store, write, "test")
    assert group.submit_later(6).result(30) == 36
    assert group.submit_later(7).result(30) == 49
    assert group.submit(8) == 64  # a blocking submitter leads again
    assert stored(store) == [6, 7, 8]


def test_a_failed_group_fails_the_futures_of_submit_later(store: Store) -> None:
    write = Recorder()
    group: CommitGroup[int, int] = CommitGroup(store, write, "test")
    with ThreadPoolExecutor(1) as pool:
        first, _ = held_first_group(pool, group, write, 100, range(0))
        doomed = [group.submit_later(n) for n in range(1, 5)]
        wait_until(lambda: group.waiting == 4, "4 items wait")
        write.fail_with = OSError("disk full")
        write.hold_first.set()
        with pytest.raises(OSError, match="disk full"):
            first.result(30)
        for future in doomed:
            with pytest.raises(OSError, match="disk full"):
                future.result(30)
    assert stored(store) == []
    write.fail_with = None
    assert group.submit_later(3).result(30) == 9


def test_threads_and_futures_hammering_lose_nothing(store: Store) -> None:
    write = Recorder()
    group: CommitGroup[int, int] = CommitGroup(store, write, "test", max_group=5)
    futures: list[Future[int]] = []
    with ThreadPoolExecutor(8) as pool:
        blocking = pool.map(group.submit, range(0, 400, 2))
        futures = [group.submit_later(n) for n in range(1, 400, 2)]
        results = dict(zip(range(0, 400, 2), blocking, strict=True))
    results |= {n: f.result(30) for n, f in zip(range(1, 400, 2), futures, strict=True)}
    assert results == {n: n * n for n in range(400)}
    assert stored(store) == list(range(400))
    assert max(len(g) for g in write.groups) <= 5


def test_close_ends_the_writer_thread(store: Store) -> None:
    write = Recorder()
    group: CommitGroup[int, int] = CommitGroup(store, write, "closing test")
    assert group.submit_later(2).result(30) == 4
    writers = [t for t in threading.enumerate() if t.name == "commit-group closing test"]
    assert len(writers) == 1
    group.close()
    writers[0].join(30)
    assert not writers[0].is_alive()


def test_a_cancelled_future_does_not_stop_its_group_or_the_next(store: Store) -> None:
    write = Recorder()
    group: CommitGroup[int, int] = CommitGroup(store, write, "test")
    with ThreadPoolExecutor(2) as pool:
        first, _ = held_first_group(pool, group, write, 0, range(0))
        cancelled = group.submit_later(1)
        kept = group.submit_later(2)
        blocking = pool.submit(group.submit, 3)
        wait_until(lambda: group.waiting == 3, "3 items wait")
        assert cancelled.cancel()  # its waiter went away (a request cancelled)
        write.hold_first.set()
        assert kept.result(30) == 4
        assert blocking.result(30) == 9
        assert first.result(30) == 0
    assert stored(store) == [0, 1, 2, 3]  # the cancelled item is written all the same
    assert group.submit_later(5).result(30) == 25  # the writer thread lives on
    assert group.submit(6) == 36


def test_submit_later_after_close_is_refused(store: Store) -> None:
    group: CommitGroup[int, int] = CommitGroup(store, Recorder(), "test")
    group.close()
    with pytest.raises(StorageUnavailable, match=r"^the server is stopping; nothing was written"):
        group.submit_later(1)  # a 503 for the request a stopping server still answers
