"""Grouped writes by level (store.write_group): on PostgreSQL a group is one level's writes,
each member in a savepoint sent with its first statements; what a member's attempt did not
send undoes nothing of the members before it; an aborted transaction, a lost connection or a
failed COMMIT fails every member, a session ended in COMMIT tells each it may be written; a
deadlock's victim runs again with its group; and two servers' groups and single writes of
several levels never deadlock (each takes the level first and the shared head last, as one
write does)."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy import exc as sa_exc

from stacksafe.errors import Conflict, NotFound, StorageUnavailable
from stacksafe.store import Store
from stacksafe.store.driver import DriverStatement, batch
from stacksafe.store.transactions import Level, RetryWrite
from stacksafe.store.write_group import UndoneTransaction
from tests.store.scratch import counted_commits, inserting, scratch_store, stored, wait_until
from tests.store.test_write_group import LEVEL, behind_a_held_group

Work = Callable[[Connection], Any]
POSTGRESQL = pytest.mark.databases("postgresql")
_INSERT = DriverStatement(text("INSERT INTO items (n) VALUES (:n)"))


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    with scratch_store(database_url, tmp_path) as store:
        yield store


def behind(pool: ThreadPoolExecutor, store: Store, works: list[tuple[Work, Level]]) -> list[Any]:
    """``works`` (each with its level) queued behind a held group of ``LEVEL``: their futures."""
    first, rest = behind_a_held_group(pool, store, [w for w, _ in works], [lv for _, lv in works])
    assert first.result(30) == 0
    return rest


def every_member_failed(store: Store, failing: Work, kind: type[Exception]) -> list[str]:
    """``failing`` between two inserts behind a held group: each member's error, every one a
    ``kind``; nothing of the group stored, and the next write of the level done."""
    works: list[Work] = [inserting(1), failing, inserting(2)]
    messages: list[str] = []
    with ThreadPoolExecutor(len(works) + 1) as pool:
        for future in behind(pool, store, [(w, LEVEL) for w in works]):
            with pytest.raises(kind) as caught:
                future.result(30)
            messages.append(str(caught.value))
    assert stored(store) == [0]
    assert store.transact(inserting(5), "after", grouped=True, level=LEVEL) == 25
    return messages


def another_level_of_the_same_group(store: Store) -> Level:
    """A level whose writes queue in ``LEVEL``'s group (PostgreSQL has several)."""
    group = store.write_group(LEVEL)
    return next((n, None) for n in range(2, 100) if store.write_group((n, None)) is group)


def test_a_group_on_postgresql_is_one_levels_writes_in_their_order(store: Store) -> None:
    other = another_level_of_the_same_group(store)
    commits = counted_commits(store)
    works = [(inserting(n), LEVEL if n % 2 else other) for n in range(1, 9)]
    with ThreadPoolExecutor(len(works) + 1) as pool:
        results = [f.result(30) for f in behind(pool, store, works)]

    assert results == [n * n for n in range(1, 9)]
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
        return int(inserting(3)(conn))

    works: list[Work] = [
        inserting(1),
        refused_at_once,
        refused_with_its_batch_unsent,
        retried_after_sending_nothing,
        inserting(4),
    ]
    with ThreadPoolExecutor(len(works) + 1) as pool:
        futures = behind(pool, store, [(w, LEVEL) for w in works])
        assert futures[0].result(30) == 1
        with pytest.raises(Conflict, match="before any statement"):
            futures[1].result(30)
        with pytest.raises(Conflict, match="before its batch was sent"):
            futures[2].result(30)
        assert futures[3].result(30) == 9
        assert futures[4].result(30) == 16

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
        for future in behind(pool, store, [(w, LEVEL) for w in works]):
            with pytest.raises(UndoneTransaction, match="left aborted"):
                future.result(30)

    assert stored(store) == [0]
    assert store.transact(inserting(5), "after", grouped=True, level=LEVEL) == 25
    assert stored(store) == [0, 5]


@POSTGRESQL  # SQLite's: tests/store/test_write_group.py
def test_a_connection_lost_under_a_member_fails_every_member_as_an_outage(store: Store) -> None:
    def losing(conn: Connection) -> None:
        inserting(101)(conn)
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with store.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        inserting(102)(conn)  # the server closed the session: invalidated

    messages = every_member_failed(store, losing, StorageUnavailable)
    assert all(f"w{i} was not done" in m for i, m in enumerate(messages))


# What a group's COMMIT meets, by a trigger's or a constraint's doing at COMMIT only: the DDL,
# the member's statement, what every member is told, and in which words.
_AT_COMMIT: dict[str, tuple[list[str], str, type[Exception], str]] = {
    "refused": (
        [
            "CREATE TABLE deferred_children"
            " (n INTEGER REFERENCES items (n) DEFERRABLE INITIALLY DEFERRED)"
        ],
        "INSERT INTO deferred_children (n) VALUES (999)",
        NotFound,
        "w{i} was not done",
    ),
    "its session ended": (  # the server ends the session in COMMIT: it may have been made
        [
            "CREATE TABLE ending (n INTEGER)",
            "CREATE FUNCTION end_session() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$",
            "CREATE CONSTRAINT TRIGGER end_session AFTER INSERT ON ending"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION end_session()",
        ],
        "INSERT INTO ending VALUES (1)",
        StorageUnavailable,
        "while w{i} was committing, so it may have been made",
    ),
}


@POSTGRESQL  # SQLite's: tests/store/test_write_group.py
@pytest.mark.parametrize("how", sorted(_AT_COMMIT))
def test_a_commit_that_fails_fails_every_member_and_writes_nothing(store: Store, how: str) -> None:
    ddl, statement, kind, told = _AT_COMMIT[how]
    with store.write() as conn:
        for created in ddl:
            conn.execute(text(created))

    def at_commit(conn: Connection) -> None:
        conn.execute(text(statement))

    messages = every_member_failed(store, at_commit, kind)
    for i, message in enumerate(messages):
        assert told.format(i=i) in message


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


_DEADLOCK_TABLES = (
    "CREATE TABLE levels (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
    "CREATE TABLE keys (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
)


def _lock_waiters(store: Store) -> int:
    with store.engine.connect() as conn:
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database() AND query LIKE 'UPDATE keys%'"
        )
        return int(conn.execute(text(query)).scalar_one())


@POSTGRESQL  # row locks: SQLite runs one writer at a time
def test_a_member_chosen_as_a_deadlocks_victim_is_written_once_the_group_runs_again(
    database_url: str, tmp_path: Path
) -> None:
    """A member that PostgreSQL chose as a deadlock's victim cannot win by running again in its
    savepoint: the locks of the members before it stay held by the group. A transaction takes a
    key's row, then its level's (as a rotation did, core.rotation.engine); a group holds the
    level (its first member's write) while its second member waits for the key."""
    deadlocks: list[str] = []
    key_held = threading.Event()

    def rotating(conn: Connection) -> int:
        conn.execute(text("SELECT n FROM keys WHERE id = 1 FOR UPDATE"))
        if not key_held.is_set():
            key_held.set()
            wait_until(lambda: _lock_waiters(scratch) >= 1, "the group's member waits for the key")
        conn.execute(text("SELECT n FROM levels WHERE id = 1 FOR UPDATE"))
        conn.execute(text("UPDATE keys SET n = n + 1 WHERE id = 1"))
        return 1

    def first_member(conn: Connection) -> int:
        conn.execute(text("SELECT n FROM levels WHERE id = 1 FOR UPDATE"))
        conn.execute(text("INSERT INTO items (n) VALUES (1)"))
        return 1

    def second_member(conn: Connection) -> int:
        try:
            conn.execute(text("SELECT n FROM levels WHERE id = 1 FOR UPDATE"))
            conn.execute(text("UPDATE keys SET n = n + 1 WHERE id = 1"))
        except sa_exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == "40P01":
                deadlocks.append("deadlock")
            raise
        conn.execute(text("INSERT INTO items (n) VALUES (2)"))
        return 2

    with (
        scratch_store(database_url, tmp_path, *_DEADLOCK_TABLES) as scratch,
        ThreadPoolExecutor(4) as pool,
    ):
        with scratch.write() as conn:
            conn.execute(text("INSERT INTO levels VALUES (1, 0)"))
            conn.execute(text("INSERT INTO keys VALUES (1, 0)"))
        rotation = pool.submit(scratch.transact, rotating, "rotating")
        assert key_held.wait(30)
        first, rest = behind_a_held_group(pool, scratch, [first_member, second_member])
        results: list[Any] = [f.result(60) for f in (first, *rest)]
        assert rotation.result(60) == 1
        assert stored(scratch) == [0, 1, 2]
        with scratch.read() as conn:
            assert conn.execute(text("SELECT n FROM keys WHERE id = 1")).scalar_one() == 2

    assert results == [0, 1, 2]
    # The member lost once at most (the rotation may lose instead), not at every attempt to a
    # lock its own group held.
    assert len(deadlocks) <= 1


@POSTGRESQL  # psycopg's prepared statements: SQLite has none
def test_the_member_after_one_rolled_back_to_its_savepoint_runs_once(store: Store) -> None:
    """psycopg takes the "ROLLBACK" of a rollback to a savepoint for a transaction's and, once
    it has prepared statements of its own, deallocates every statement of the session before
    its next one, the batches' too: the batch after must prepare its statements again, not
    find them gone (``26000``) and run its member's work a second time."""
    attempts: list[int] = []
    counting = "SELECT count(*) FROM items WHERE n > :n"

    def warming(conn: Connection) -> int:
        for _ in range(6):  # psycopg prepares a statement once it has run it five times
            conn.execute(text(counting), {"n": 0})
        with batch(conn):
            _INSERT.send(conn, {"n": 1})
        return 1

    def refused_after_its_batch(conn: Connection) -> None:
        with batch(conn):
            _INSERT.send(conn, {"n": 101})
        raise Conflict("refused after its batch was sent")

    def after(conn: Connection) -> int:
        attempts.append(1)
        conn.execute(text(counting), {"n": 0})  # psycopg deallocates here
        with batch(conn):
            _INSERT.send(conn, {"n": 2})
        return 2

    works: list[Work] = [warming, refused_after_its_batch, after]
    with ThreadPoolExecutor(len(works) + 1) as pool:
        futures = behind(pool, store, [(w, LEVEL) for w in works])
        assert futures[0].result(30) == 1
        with pytest.raises(Conflict, match="after its batch"):
            futures[1].result(30)
        assert futures[2].result(30) == 2

    assert stored(store) == [0, 1, 2]
    assert len(attempts) == 1


@POSTGRESQL  # SQLite's: tests/store/test_write_group.py
@pytest.mark.parametrize("batches_before", [0, 1])
def test_a_session_ended_before_a_members_batch_fails_every_member(
    store: Store, batches_before: int
) -> None:
    """The group's session ended before a member's batch (its first, which carries its
    savepoint, or a later one): every member is told it was not done, none acknowledged."""

    def cut_off(conn: Connection) -> None:
        for n in range(batches_before):
            with batch(conn):
                _INSERT.send(conn, {"n": 90 + n})
        pid = conn.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
        with store.engine.connect() as other:  # known without a round trip: nothing sent
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with batch(conn):
            _INSERT.send(conn, {"n": 99})

    messages = every_member_failed(store, cut_off, StorageUnavailable)
    assert all(f"w{i} was not done" in m for i, m in enumerate(messages))
