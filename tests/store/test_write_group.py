"""Grouped writes (store.write_group): on SQLite, writes submitted while a group commits share
one transaction and one COMMIT, each in a savepoint of its own, and each keeps its own result,
its own error, its own retries and its submitter's context; on PostgreSQL a grouped write is a
transaction of its own."""

from __future__ import annotations

import contextlib
import contextvars
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, text
from sqlalchemy import exc as sa_exc

from stacksafe.errors import Conflict, NotFound, StorageUnavailable
from stacksafe.store import Store
from stacksafe.store.transactions import WRITE_ATTEMPTS, Level, RetryWrite
from stacksafe.store.write_group import UndoneTransaction, write_of
from tests.store.scratch import counted_commits, inserting, scratch_store, stored, wait_until

Work = Callable[[Connection], Any]
# The level the tests' grouped writes say they write: on PostgreSQL a group is one level's.
LEVEL: Level = (1, None)


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    children = "CREATE TABLE children (n INTEGER REFERENCES items (n))"
    with scratch_store(database_url, tmp_path, children) as store:
        yield store


def behind_a_held_group(
    pool: ThreadPoolExecutor,
    store: Store,
    works: list[Work],
    levels: list[Level] | None = None,
) -> tuple[Future[Any], list[Future[Any]]]:
    """Start a grouped write of ``LEVEL`` that holds its transaction open, submit ``works``
    (one thread each, named ``w0``, ``w1``, ...; each of ``LEVEL`` or of its own of
    ``levels``, which queue in the same group) while it does, then let it commit: they queue
    behind it."""
    group = store.write_group(LEVEL)
    assert group is not None
    levels = levels or [LEVEL] * len(works)
    assert all(store.write_group(level) is group for level in levels)
    started, release = threading.Event(), threading.Event()

    def holding(conn: Connection) -> int:
        conn.execute(text("INSERT INTO items (n) VALUES (0)"))
        started.set()
        assert release.wait(30), "the test never released the first group"
        return 0

    first = pool.submit(store.transact, holding, "the first", grouped=True, level=LEVEL)
    assert started.wait(30), "the first write never started"
    rest = [
        pool.submit(store.transact, work, f"w{i}", grouped=True, level=level)
        for i, (work, level) in enumerate(zip(works, levels, strict=True))
    ]
    wait_until(lambda: group.waiting == len(works), f"{len(works)} writes wait")
    release.set()
    return first, rest


def test_writes_submitted_during_a_commit_share_the_next_transaction(store: Store) -> None:
    commits = counted_commits(store)
    with ThreadPoolExecutor(17) as pool:
        first, rest = behind_a_held_group(pool, store, [inserting(n) for n in range(1, 17)])
        assert [f.result(30) for f in (first, *rest)] == [n * n for n in range(17)]

    assert len(commits) == 2  # 17 writes, 2 transactions
    assert stored(store) == list(range(17))


def test_a_member_that_fails_fails_alone_and_its_rows_are_gone(store: Store) -> None:
    tries = {"retried": 0, "colliding": 0}

    def then_refused(conn: Connection) -> None:
        inserting(101)(conn)
        raise Conflict("the member's own refusal")

    def retried_once(conn: Connection) -> int:
        tries["retried"] += 1
        inserting(102)(conn)
        if tries["retried"] == 1:
            raise RetryWrite  # a lost compare-and-set: run again, in a new savepoint
        return 102

    def always_colliding(conn: Connection) -> None:
        tries["colliding"] += 1
        inserting(103)(conn)
        inserting(1)(conn)  # w0's row: a unique collision, which a fresh attempt retries

    def orphan(conn: Connection) -> None:
        inserting(104)(conn)
        conn.execute(text("INSERT INTO children (n) VALUES (999)"))  # no such item

    commits = counted_commits(store)
    works = [inserting(1), then_refused, retried_once, always_colliding, orphan, inserting(2)]
    with ThreadPoolExecutor(len(works) + 1) as pool:
        first, rest = behind_a_held_group(pool, store, works)
        assert first.result(30) == 0
        assert rest[0].result(30) == 1
        with pytest.raises(Conflict, match=r"^the member's own refusal$"):
            rest[1].result(30)
        assert rest[2].result(30) == 102
        with pytest.raises(Conflict, match=r"^w3 kept colliding with concurrent writes"):
            rest[3].result(30)
        with pytest.raises(NotFound, match=r"^w4 was not done: what it refers to was deleted"):
            rest[4].result(30)
        assert rest[5].result(30) == 4

    assert len(commits) == 2
    assert tries == {"retried": 2, "colliding": WRITE_ATTEMPTS}
    assert stored(store) == [0, 1, 2, 102]  # nothing of 101, 103, 104; 102 once


@pytest.mark.databases("sqlite")  # the group's COMMIT
def test_a_commit_that_fails_fails_every_member_and_writes_nothing(store: Store) -> None:
    def deferring(conn: Connection) -> None:
        # Checked at the outermost COMMIT only: the group's, which SQLite then refuses.
        conn.execute(text("PRAGMA defer_foreign_keys = ON"))
        conn.execute(text("INSERT INTO children (n) VALUES (999)"))

    with ThreadPoolExecutor(5) as pool:
        first, rest = behind_a_held_group(pool, store, [inserting(1), deferring, inserting(2)])
        assert first.result(30) == 0  # the group before
        for i, future in enumerate(rest):
            with pytest.raises(NotFound, match=f"^w{i} was not done"):
                future.result(30)

    assert stored(store) == [0]
    assert (
        store.transact(inserting(5), "after", grouped=True, level=LEVEL) == 25
    )  # the next group commits
    assert stored(store) == [0, 5]


@pytest.mark.databases("sqlite")  # the group's COMMIT
def test_a_commit_the_disk_fails_tells_each_member_in_its_own_words(store: Store) -> None:
    def failing_disk(conn: Connection) -> None:
        # What SQLite raises when the WAL's write fails under COMMIT (the disk itself
        # cannot be failed here; tests/e2e/test_storage_faults.py fills a real one).
        orig = sqlite3.OperationalError("disk I/O error")
        orig.sqlite_errorcode = 10 | 3 << 8  # SQLITE_IOERR_WRITE: nothing reached the WAL
        raise sa_exc.OperationalError("COMMIT", None, orig)

    with ThreadPoolExecutor(4) as pool:
        event.listen(store.engine, "commit", failing_disk)
        try:
            first, rest = behind_a_held_group(pool, store, [inserting(1), inserting(2)])
            for i, future in enumerate([first, *rest]):
                what = "the first" if i == 0 else f"w{i - 1}"
                with pytest.raises(StorageUnavailable) as caught:
                    future.result(30)
                assert caught.value.message.startswith("database disk I/O error")
                assert f"{what} was not done" in caught.value.message
        finally:
            event.remove(store.engine, "commit", failing_disk)

    assert stored(store) == []


def test_each_member_runs_in_its_submitters_context(store: Store) -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")

    def as_submitted(n: int) -> tuple[str, int]:
        request_id.set(f"request {n}")  # in the submitter's thread, before it submits
        return store.transact(
            lambda conn: (request_id.get(), threading.get_ident()),
            f"w{n}",
            grouped=True,
            level=LEVEL,
        )

    started, release = threading.Event(), threading.Event()

    def holding(conn: Connection) -> None:
        started.set()
        assert release.wait(30)

    group = store.write_group(LEVEL)
    assert group is not None
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(store.transact, holding, "the first", grouped=True, level=LEVEL)
        assert started.wait(30)
        rest = [pool.submit(as_submitted, n) for n in range(8)]
        wait_until(lambda: group.waiting == 8, "8 writes wait")
        release.set()
        first.result(30)
        ran = [future.result(30) for future in rest]

    assert [seen for seen, _ in ran] == [f"request {n}" for n in range(8)]
    # One thread led the group and ran them all, each in its own submitter's context.
    assert len({thread for _, thread in ran}) == 1


def test_a_grouped_write_keeps_a_transactions_meaning(store: Store) -> None:
    """Alone: a result, an error of its own, a retried race."""
    retried: list[int] = []

    def retry_once(conn: Connection) -> int:
        retried.append(1)
        inserting(7)(conn)
        if len(retried) == 1:
            raise RetryWrite
        return 7

    def refused(conn: Connection) -> None:
        inserting(8)(conn)
        raise Conflict("no")

    assert store.transact(inserting(6), "six", grouped=True, level=LEVEL) == 36
    assert store.transact(retry_once, "seven", grouped=True, level=LEVEL) == 7
    with pytest.raises(Conflict, match=r"^no$"):
        store.transact(refused, "eight", grouped=True, level=LEVEL)
    assert stored(store) == [6, 7]
    assert len(retried) == 2
    # PostgreSQL groups one level's writes: a write that names none is a transaction of its own.
    assert (store.write_group() is None) is (store.dialect == "postgresql")
    assert store.write_group(LEVEL) is not None


@pytest.mark.databases("sqlite")  # the write lock a long job holds is SQLite's
def test_a_long_job_is_never_a_member_and_writes_behind_it_share_commits_after_it(
    store: Store,
) -> None:
    """A long job (``transact`` without ``grouped``: a key rotation's batch, an import) holds
    the write lock between groups, never inside one: the writes that arrive meanwhile wait for
    it as they would for any transaction, then commit together."""
    group = store.write_group(LEVEL)
    assert group is not None
    started, release = threading.Event(), threading.Event()
    order: list[str] = []

    def long_job(conn: Connection) -> str:
        inserting(100)(conn)
        started.set()
        assert release.wait(30), "the test never ended the job"
        order.append("job")
        return "done"

    def recorded(n: int) -> Work:
        def work(conn: Connection) -> int:
            order.append(f"w{n}")
            return int(inserting(n)(conn))

        return work

    commits = counted_commits(store)
    with ThreadPoolExecutor(6) as pool:
        job = pool.submit(store.transact, long_job, "the job")
        assert started.wait(30)
        writes = [
            pool.submit(store.transact, recorded(n), f"w{n}", grouped=True, level=LEVEL)
            for n in range(5)
        ]
        # One leads and waits for the write lock with its group; the others queue behind it.
        wait_until(lambda: group.waiting == 4, "4 writes wait behind the leading one")
        assert not any(w.done() for w in writes)
        release.set()
        assert job.result(30) == "done"
        assert [w.result(30) for w in writes] == [n * n for n in range(5)]

    assert order[0] == "job"
    assert sorted(order[1:]) == [f"w{n}" for n in range(5)]
    assert len(commits) == 3  # the job; the leading write alone; the four behind it together
    assert stored(store) == [0, 1, 2, 3, 4, 100]


@pytest.mark.databases("sqlite")  # a SQLite group's transaction undone under a member
def test_an_interrupted_member_fails_every_member_with_its_cause_and_writes_nothing(
    store: Store,
) -> None:
    def interrupted(conn: Connection) -> None:
        inserting(101)(conn)
        _interrupted_insert(conn)

    with ThreadPoolExecutor(5) as pool:
        first, rest = behind_a_held_group(pool, store, [inserting(1), interrupted, inserting(2)])
        assert first.result(30) == 0
        for future in rest:
            with pytest.raises(sa_exc.OperationalError, match="interrupted"):
                future.result(30)

    assert stored(store) == [0]
    assert (
        store.transact(inserting(5), "after", grouped=True, level=LEVEL) == 25
    )  # the next group commits
    assert stored(store) == [0, 5]


@pytest.mark.databases("sqlite")  # SQLite's own undoing of a transaction
def test_a_member_that_swallows_the_undoing_of_the_transaction_fails_every_member(
    store: Store,
) -> None:
    def swallowing(conn: Connection) -> None:
        inserting(101)(conn)
        with contextlib.suppress(sa_exc.OperationalError):
            _interrupted_insert(conn)  # the defect: the transaction is gone, and it goes on

    with ThreadPoolExecutor(5) as pool:
        first, rest = behind_a_held_group(pool, store, [inserting(1), swallowing, inserting(2)])
        assert first.result(30) == 0
        for future in rest:
            with pytest.raises(UndoneTransaction, match="undone under it"):
                future.result(30)

    assert stored(store) == [0]
    assert (
        store.transact(inserting(5), "after", grouped=True, level=LEVEL) == 25
    )  # the next group commits
    assert stored(store) == [0, 5]


@pytest.mark.databases("sqlite")  # a SQLite group's connection lost under a member
def test_a_connection_lost_under_a_member_fails_every_member_as_an_outage(store: Store) -> None:
    def losing(conn: Connection) -> None:
        inserting(101)(conn)
        conn.connection.driver_connection.close()  # type: ignore[union-attr]
        inserting(102)(conn)  # "Cannot operate on a closed database": invalidated

    with ThreadPoolExecutor(5) as pool:
        first, rest = behind_a_held_group(pool, store, [inserting(1), losing, inserting(2)])
        assert first.result(30) == 0
        for i, future in enumerate(rest):
            # Not SQLAlchemy's PendingRollbackError from the member's bookkeeping after it.
            with pytest.raises(StorageUnavailable) as caught:
                future.result(30)
            assert caught.value.message.startswith("database unavailable")
            assert f"w{i} was not done" in caught.value.message

    assert stored(store) == [0]
    assert (
        store.transact(inserting(5), "after", grouped=True, level=LEVEL) == 25
    )  # the next group commits
    assert stored(store) == [0, 5]


@pytest.mark.databases("sqlite")  # a SQLite group held open
def test_writes_pending_when_the_store_closes_are_written_and_the_writer_thread_ends(
    store: Store,
) -> None:
    before = set(threading.enumerate())
    group = store.write_group(LEVEL)
    assert group is not None
    started, release = threading.Event(), threading.Event()

    def holding(conn: Connection) -> int:
        inserting(0)(conn)
        started.set()
        assert release.wait(30), "the test never released the first group"
        return 0

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(store.transact, holding, "the first", grouped=True, level=LEVEL)
        assert started.wait(30), "the first write never started"
        later = [group.transact_later(inserting(n), f"l{n}", LEVEL) for n in (1, 2)]
        threaded = pool.submit(store.transact, inserting(3), "t3", grouped=True, level=LEVEL)
        wait_until(lambda: group.waiting == 3, "3 writes wait")
        store.close()  # the server stops while they wait
        with pytest.raises(StorageUnavailable, match=r"^the server is stopping; nothing was"):
            store.transact_later(inserting(9), "l9")
        release.set()
        assert first.result(30) == 0
        assert [f.result(30) for f in later] == [1, 4]
        assert threaded.result(30) == 9

    assert stored(store) == [0, 1, 2, 3]

    def writer_ended() -> bool:
        started_here = set(threading.enumerate()) - before
        return not any(t.name == "commit-group writing" for t in started_here)

    wait_until(writer_ended, "the group's writer thread ended")


@pytest.mark.databases("sqlite")  # a SQLite group held open
def test_a_member_interrupted_by_a_base_exception_leaves_no_mark_on_the_pooled_connection(
    store: Store,
) -> None:
    """What a write keeps per write (store.level_writes) is kept under the member's mark on
    the connection; left behind, the next transaction on that pooled connection would take
    the failed member's level writes for its own."""

    def stopping(conn: Connection) -> None:
        inserting(101)(conn)
        raise KeyboardInterrupt  # what no Exception handler catches

    with ThreadPoolExecutor(4) as pool:
        first, rest = behind_a_held_group(pool, store, [inserting(1), stopping])
        assert first.result(30) == 0
        for future in rest:
            with pytest.raises(KeyboardInterrupt):
                future.result(30)

    assert stored(store) == [0]
    with store.write() as conn:  # the connection the group used (the pool's last returned)
        assert write_of(conn) is conn.get_transaction()


def _interrupted_insert(conn: Connection) -> None:
    """An INSERT that SQLite interrupts (sqlite3_interrupt, which a progress handler answering
    non-zero is): it undoes the whole transaction, every savepoint with it."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    raw.set_progress_handler(lambda: 1, 100)
    try:
        conn.execute(
            text(
                "INSERT INTO items (n) WITH RECURSIVE c(x) AS"
                " (SELECT 1000 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)"
                " SELECT x FROM c"
            )
        )
    finally:
        raw.set_progress_handler(None, 0)
