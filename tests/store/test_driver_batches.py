"""store.driver's batches: statements sent together (one round trip on PostgreSQL, over libpq:
store.pipeline) read back as SQLAlchemy reads them, fail as SQLAlchemy fails, in order with
SQLAlchemy's own statements, and leave nothing when the transaction is undone (SQLite and
PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, bindparam, create_engine, func, insert, select, text, update
from sqlalchemy import exc as sa_exc

from stacksafe.errors import InvalidInput
from stacksafe.store import Store
from stacksafe.store.driver import DriverStatement, after, batch
from stacksafe.store.transactions import RetryWrite
from tests.round_trips import counted
from tests.store.test_driver import store_with_things, things

INSERT_RETURNING = DriverStatement(
    insert(things).returning(things.c.id, things.c.at, things.c.blob), ["id", "at", "name", "blob"]
)
INSERT = DriverStatement(insert(things), ["id", "at", "name", "blob"])
NAME_OF = DriverStatement(select(things.c.name).where(things.c.id == bindparam("id")))
RENAME = DriverStatement(
    update(things).where(things.c.id == bindparam("id")).values(name=bindparam("name"))
)
AT = datetime(2026, 12, 7, 10, 30, 1, 250000, tzinfo=UTC)


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    yield from store_with_things(database_url, tmp_path)


def _names(store: Store) -> list[str]:
    with store.read() as conn:
        return list(conn.execute(select(things.c.name).order_by(things.c.id)).scalars())


def test_a_batch_reads_back_what_it_sent_as_sqlalchemy_reads_it(store: Store) -> None:
    with store.write() as conn:
        with batch(conn):
            first = INSERT_RETURNING.send(conn, {"id": 1, "at": AT, "name": "one", "blob": b"\0"})
            INSERT.executemany(conn, [{"id": 2, "at": AT, "name": "two"}])
            name = NAME_OF.send(conn, {"id": 2})  # sees the row sent before it
        assert first.first() == (1, AT, b"\0")
        assert name.first() == ("two",)
        assert NAME_OF.first(conn, {"id": 3}) is None
    assert _names(store) == ["one", "two"]


def test_a_statement_through_sqlalchemy_inside_a_batch_runs_after_what_it_sent(
    store: Store,
) -> None:
    with store.write() as conn, batch(conn):
        INSERT.executemany(conn, [{"id": 1, "at": AT, "name": "one"}])
        assert conn.execute(select(func.count()).select_from(things)).scalar_one() == 1
        RENAME.send(conn, {"id": 1, "name": "renamed"})
    assert _names(store) == ["renamed"]


def test_a_failed_statement_of_a_batch_is_sqlalchemys_error_and_nothing_stays(
    store: Store,
) -> None:
    row = {"id": 5, "at": AT, "name": "secret-looking-parameter"}
    with store.write() as conn:
        INSERT.executemany(conn, [row])

    def colliding() -> None:
        with store.write() as conn, batch(conn):
            INSERT.executemany(conn, [{"id": 6, "at": AT, "name": "sent first"}])
            INSERT.executemany(conn, [row])  # the same id again
            INSERT.executemany(conn, [{"id": 7, "at": AT, "name": "sent after"}])

    with pytest.raises(sa_exc.IntegrityError) as raised:
        colliding()
    assert "secret-looking-parameter" not in str(raised.value)
    assert "INSERT INTO driver_things" in str(raised.value)
    assert getattr(raised.value.orig, "sqlstate", "23505") == "23505"
    assert _names(store) == ["secret-looking-parameter"]


def test_a_deferred_check_runs_once_the_batch_is_back_and_undoes_the_write(
    store: Store,
) -> None:
    with store.write() as conn:
        INSERT.executemany(conn, [{"id": 1, "at": AT, "name": "one"}])
    checked: list[int] = []

    def rename(conn: Connection, row_id: int) -> None:
        before = len(checked)
        with batch(conn):
            renamed = RENAME.send(conn, {"id": row_id, "name": "renamed"})

            def moved() -> None:
                checked.append(renamed.rowcount())
                if renamed.rowcount() != 1:
                    raise RetryWrite

            after(conn, moved)
            # PostgreSQL's waits for the batch's end; SQLite's ran as the statement did.
            assert len(checked) == before + (store.dialect == "sqlite")
        assert len(checked) == before + 1

    def rename_missing() -> None:
        with store.write() as conn:
            INSERT.executemany(conn, [{"id": 2, "at": AT, "name": "two"}])
            rename(conn, 99)

    store.transact(lambda conn: rename(conn, 1), "renaming")
    with pytest.raises(RetryWrite):
        rename_missing()
    assert checked == [1, 0]
    assert _names(store) == ["renamed"]


def test_a_batch_of_statements_on_postgresql_is_one_round_trip_with_its_begin(
    store: Store, tmp_path: Path
) -> None:
    def write(first: int) -> None:
        with store.write() as conn:
            with batch(conn):
                rows = [{"id": first + i, "at": AT, "name": f"n{first + i}"} for i in range(3)]
                INSERT.executemany(conn, rows)
                found = NAME_OF.send(conn, {"id": first + 2})
            assert found.first() == (f"n{first + 2}",)

    with counted(store.engine, tmp_path) as seen:
        write(1)  # opens the pool's connection
        opened = len(seen.uses)
        write(10)
    if store.dialect == "sqlite":
        assert len(seen.uses) - opened == 6  # BEGIN, three INSERTs, the SELECT, COMMIT
        return
    # The pool's pre-ping; BEGIN and the four statements; COMMIT.
    assert seen.round_trips()[-1] == 3, "\n".join(seen.messages(-1))


@pytest.mark.databases("postgresql")  # SQLite prepares nothing in a session
def test_statements_a_batch_prepared_and_the_session_lost_are_prepared_again(
    store: Store,
) -> None:
    def write(row_id: int) -> None:
        def work(conn: Connection) -> None:
            with batch(conn):
                INSERT.executemany(conn, [{"id": row_id, "at": AT, "name": f"n{row_id}"}])

        store.transact(work, "inserting")

    write(1)
    with store.write() as conn:  # as psycopg does after a rollback once it prepared its own
        conn.execute(text("DEALLOCATE ALL"))
    write(2)

    def twice() -> None:
        with store.write() as conn:
            for _ in range(2):
                conn.execute(
                    text("INSERT INTO driver_things (id, at, name) VALUES (3, now(), 'x')")
                )

    with pytest.raises(sa_exc.IntegrityError):
        twice()
    write(4)  # after a rollback
    assert _names(store) == ["n1", "n2", "n4"]


def test_a_result_never_read_leaves_no_statement_open_on_the_pooled_connection(
    store: Store, database_url: str
) -> None:
    with store.write() as conn:
        INSERT.executemany(conn, [{"id": 1, "at": AT, "name": "one"}])
    kept = []
    with store.write() as conn:  # a write that failed before reading what it sent, say
        kept.append(NAME_OF.send(conn, {"id": 1}))
    other = Store.from_url(database_url)  # another process's writer, meanwhile
    try:
        with other.write() as conn:
            INSERT.executemany(conn, [{"id": 2, "at": AT, "name": "two"}])
    finally:
        other.close()
    # SQLite: an unfinished SELECT would hold its old snapshot, and this would fail at once
    # with "database is locked".
    with store.write() as conn:
        INSERT.executemany(conn, [{"id": 3, "at": AT, "name": "three"}])
    assert _names(store) == ["one", "two", "three"]
    assert kept[0].first() == ("one",)


def test_a_value_the_driver_refuses_fails_its_batch_as_bad_input_and_the_next_write_works(
    store: Store,
) -> None:
    def refused() -> None:
        with store.write() as conn, batch(conn):
            INSERT.executemany(conn, [{"id": 1, "at": AT, "name": "fine"}])
            INSERT.executemany(conn, [{"id": 2, "at": AT, "name": "nul \x00 inside"}])

    if store.dialect == "sqlite":  # SQLite takes it (store.outages.nul_in_text)
        refused()
        assert _names(store) == ["fine", "nul \x00 inside"]
        return
    with pytest.raises(InvalidInput):
        refused()
    with store.write() as conn, batch(conn):
        INSERT.executemany(conn, [{"id": 3, "at": AT, "name": "after"}])
    assert _names(store) == ["after"]


def test_a_batch_statement_is_named_by_its_sql_whichever_process_names_it() -> None:
    """Behind PgBouncer in transaction mode a session's prepared statements may be another
    client's: a name is never two statements (docs/operations.md)."""
    dialect = create_engine("postgresql+psycopg://nobody@127.0.0.1/none").dialect  # not opened
    given = {"id": 1, "name": "n"}
    # Made in another order by another process, the same statement has the same name.
    again = DriverStatement(select(things.c.name).where(things.c.id == bindparam("id")))
    assert again._queued(dialect, given).name == NAME_OF._queued(dialect, given).name
    assert RENAME._queued(dialect, given).name != NAME_OF._queued(dialect, given).name


@pytest.mark.databases("postgresql")
def test_a_batch_on_psycopg_over_the_systems_libpq_runs_as_it_did_before_batches(
    store: Store, database_url: str
) -> None:
    """psycopg's C or pure-Python implementation runs on the system's libpq, which may predate
    what a pipeline needs (PQsendClosePrepared: libpq 17): writes go on, a statement at a time."""
    script = (
        "import psycopg\n"
        "from stacksafe.store import Store\n"
        "from stacksafe.store.driver import batch\n"
        "from tests.store.test_driver_batches import AT, INSERT, NAME_OF\n"
        f"store = Store.from_url({database_url!r})\n"
        "with store.write() as conn:\n"
        "    with batch(conn):\n"
        "        INSERT.executemany(conn, [{'id': 1, 'at': AT, 'name': 'one'}])\n"
        "        found = NAME_OF.send(conn, {'id': 1})\n"
        "    assert found.first() == ('one',)\n"
        "store.close()\n"
        "print(psycopg.pq.__impl__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PSYCOPG_IMPL": "python"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "python"
    assert _names(store) == ["one"]
