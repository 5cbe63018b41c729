"""Grouped writes by level (store.write_group): on PostgreSQL a group is one level's writes,
each member in a savepoint sent with its first statements; what a member's attempt did not
send undoes nothing of the members before it; an aborted transaction, a lost connection or a
failed COMMIT fails every member; and two servers' groups and single writes of several levels
never deadlock (each takes the level first and the shared head last, as one write does)."""

from __future__ import annotations

import contextlib
import random
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
from stacksafe.store.driver import DriverStatement, batch
from stacksafe.store.transactions import Level, RetryWrite
from stacksafe.store.write_group import UndoneTransaction
from tests.store.scratch import scratch_store, stored, wait_until

Work = Callable[[Connection], Any]
POSTGRESQL = pytest.mark.databases("postgresql")
LEVEL: Level = (1, None)
_INSERT = DriverStatement(text("INSERT INTO items (n) VALUES (:n)"))


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    with scratch_store(database_url, tmp_path) as store:
        yield store


def inserting(n: int) -> Work:
    def work(conn: Connection) -> int:
        conn.execute(text("INSERT INTO items (n) VALUES (:n)"), {"n": n})
        return n

    return work


def commits_of(store: Store) -> list[int]:
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    return commits


def behind_a_held_group(
    pool: ThreadPoolExecutor, store: Store, works: list[tuple[Work, Level]]
) -> list[Future[Any]]:
    """Hold a group of ``LEVEL`` open, submit ``works`` (each with its level, named ``w0``,
    ``w1``, ...) meanwhile, then let it commit once they all wait behind it."""
    group = store.write_group(LEVEL)
    assert group is not None
    assert all(store.write_group(level) is group for _, level in works)
    started, release = threading.Event(), threading.Event()

    def holding(conn: Connection) -> int:
        inserting(0)(conn)
        started.set()
        assert release.wait(30), "the test never released the first group"
        return 0

    first = pool.submit(store.transact, holding, "held", grouped=True, level=LEVEL)
    assert started.wait(30), "the first write never started"
    rest = [
        pool.submit(store.transact, work, f"w{i}", grouped=True, level=level)
        for i, (work, level) in enumerate(works)
    ]
    wait_until(lambda: group.waiting == len(works), f"{len(works)} writes wait")
    release.set()
    assert first.result(30) == 0
    return rest


def another_level_of_the_same_group(store: Store) -> Level:
    """A level whose writes queue in ``LEVEL``'s group (PostgreSQL has several)."""
    group = store.write_group(LEVEL)
    return next((n, None) for n in range(2, 100) if store.write_group((n, None)) is group)


def test_a_group_on_postgresql_is_one_levels_writes_in_their_order(store: Store) -> None:
    other = another_level_of_the_same_group(store)
    commits = commits_of(store)
    works = [(inserting(n), LEVEL if n % 2 else other) for n in range(1, 9)]
    with ThreadPoolExecutor(len(works) + 1) as pool:
        results = [f.result(30) for f in behind_a_held_group(pool, store, works)]

    assert results == list(range(1, 9))
    # SQLite: the held write, then the eight together; PostgreSQL: then each level's four.
    assert len(commits) == (3 if store.dialect == "postgresql" else 2)
    assert stored(store) == list(range(9))


def test_an_attempt_that_sent_nothing_undoes_nothing_of_the_members_before_it(
    store: Store,
) -> None:
    tries: list[int] = []

    def refused_at_once(conn: Connection) -> None:
        raise Conflict("refused before any statement")

    def refused_with_its_batch_unsent(conn: Connection) -> None:
        with batch(conn):
            _INSERT.send(conn, {"n": 102})  # queued on PostgreSQL, never sent
            raise Conflict("refused before its batch was sent")

    def retried_after_sending_nothing(conn: Connection) -> int:
        tries.append(1)
        if len(tries) == 1:
            raise RetryWrite
        return inserting(3)(conn)  # type: ignore[no-any-return]

    works: list[Work] = [
        inserting(1),
        refused_at_once,
        refused_with_its_batch_unsent,
        retried_after_sending_nothing,
        inserting(4),
    ]
    with ThreadPoolExecutor(len(works) + 1) as pool:
        futures = behind_a_held_group(pool, store, [(w, LEVEL) for w in works])
        assert futures[0].result(30) == 1
        with pytest.raises(Conflict, match="before any statement"):
            futures[1].result(30)
        with pytest.raises(Conflict, match="before its batch was sent"):
            futures[2].result(30)
        assert futures[3].result(30) == 3
        assert futures[4].result(30) == 4

    assert stored(store) == [0, 1, 3, 4]
    assert len(tries) == 2


@POSTGRESQL  # SQLite's own undoing: tests/store/test_write_group.py
def test_a_member_that_swallows_an_error_fails_every_member(store: Store) -> None:
    def swallowing(conn: Connection) -> None:
        inserting(101)(conn)
        with contextlib.suppress(sa_exc.IntegrityError):
            inserting(1)(conn)  # w0's row: the transaction is aborted, and it goes on

    works: list[Work] = [inserting(1), swallowing, inserting(2)]
    with ThreadPoolExecutor(len(works) + 1) as pool:
        for future in behind_a_held_group(pool, store, [(w, LEVEL) for w in works]):
            with pytest.raises(UndoneTransaction, match="left aborted"):
                future.result(30)

    assert stored(store) == [0]
    assert store.transact(inserting(5), "after", grouped=True, level=LEVEL) == 5
    assert stored(store) == [0, 5]


@POSTGRESQL  # SQLite's: tests/store/test_write_group.py
def test_a_connection_lost_under_a_member_fails_every_member_as_an_outage(store: Store) -> None:
    def losing(conn: Connection) -> None:
        inserting(101)(conn)
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with store.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        inserting(102)(conn)  # the server closed the session: invalidated

    works: list[Work] = [inserting(1), losing, inserting(2)]
    with ThreadPoolExecutor(len(works) + 1) as pool:
        futures = behind_a_held_group(pool, store, [(w, LEVEL) for w in works])
        for i, future in enumerate(futures):
            with pytest.raises(StorageUnavailable) as caught:
                future.result(30)
            assert f"w{i} was not done" in caught.value.message

    assert stored(store) == [0]
    assert store.transact(inserting(5), "after", grouped=True, level=LEVEL) == 5


@POSTGRESQL  # SQLite's: tests/store/test_write_group.py
def test_a_commit_that_fails_fails_every_member_and_writes_nothing(store: Store) -> None:
    with store.write() as conn:
        conn.execute(
            text(
                "CREATE TABLE deferred_children"
                " (n INTEGER REFERENCES items (n) DEFERRABLE INITIALLY DEFERRED)"
            )
        )

    def deferring(conn: Connection) -> None:
        # Checked at COMMIT only: the group's, which PostgreSQL then refuses.
        conn.execute(text("INSERT INTO deferred_children (n) VALUES (999)"))

    works: list[Work] = [inserting(1), deferring, inserting(2)]
    with ThreadPoolExecutor(len(works) + 1) as pool:
        futures = behind_a_held_group(pool, store, [(w, LEVEL) for w in works])
        for i, future in enumerate(futures):
            with pytest.raises(NotFound, match=f"^w{i} was not done"):
                future.result(30)

    assert stored(store) == [0]
    assert store.transact(inserting(5), "after", grouped=True, level=LEVEL) == 5


@POSTGRESQL  # row locks: SQLite runs one writer at a time
def test_two_servers_grouped_and_single_writes_of_several_levels_never_deadlock(
    database_url: str, tmp_path: Path
) -> None:
    """Each write locks its level's row, then the shared head's (as a secret's write locks its
    level, then the audit chain's head); two stores (two servers) write four levels at once,
    grouped from threads, handed over, and as single transactions, in shuffled orders."""
    levels = (
        "CREATE TABLE levels (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
        "CREATE TABLE head (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
    )
    deadlocks: list[str] = []

    def writing(level: int) -> Work:
        def work(conn: Connection) -> int:
            try:
                conn.execute(text("SELECT n FROM levels WHERE id = :l FOR UPDATE"), {"l": level})
                conn.execute(text("UPDATE levels SET n = n + 1 WHERE id = :l"), {"l": level})
                return int(conn.execute(text("UPDATE head SET n = n + 1 RETURNING n")).scalar_one())
            except sa_exc.OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) == "40P01":
                    deadlocks.append(str(exc.orig))
                raise

        return work

    with scratch_store(database_url, tmp_path, *levels) as first:
        with first.write() as conn:
            conn.execute(text("INSERT INTO levels VALUES (1, 0), (2, 0), (3, 0), (4, 0)"))
            conn.execute(text("INSERT INTO head VALUES (1, 0)"))
        second = Store.from_url(database_url)
        try:
            plan = [
                (store, level, how)
                for store in (first, second)
                for level in range(1, 5)
                for how in ("grouped", "later", "single")
                for _ in range(12)
            ]
            random.Random(21).shuffle(plan)
            with ThreadPoolExecutor(16) as pool:
                futures: list[Future[int]] = []
                for store, level, how in plan:
                    work, what = writing(level), f"level {level}"
                    if how == "later":
                        later = store.transact_later(work, what, (level, None))
                        assert later is not None
                        futures.append(later)
                    else:
                        grouped = how == "grouped"
                        futures.append(
                            pool.submit(
                                store.transact, work, what, grouped=grouped, level=(level, None)
                            )
                        )
                heads = sorted(f.result(60) for f in futures)
        finally:
            second.close()
        with first.read() as conn:
            counts = conn.execute(text("SELECT n FROM levels ORDER BY id")).scalars().all()

    assert deadlocks == []
    assert heads == list(range(1, len(plan) + 1))  # every write once, none lost
    assert list(counts) == [72, 72, 72, 72]
