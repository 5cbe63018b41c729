"""store.nowait: one-statement SQLite reads that never wait, read exactly as Store.read reads."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Integer, Select, column, literal_column, select, table

from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import Target
from stacksafe.store import Store
from stacksafe.store import tenancy as queries
from stacksafe.store.nowait import NoWaitReader
from tests.api.helpers import set_local

QUERY_ONLY: Select[Any] = select(column("query_only")).select_from(table("pragma_query_only"))
BUSY: Select[Any] = select(literal_column("busy()").label("busy"))


# The rest are about SQLite's reader only.
SQLITE_ONLY = pytest.mark.databases("sqlite")


def _sqlite(installation: Installation) -> NoWaitReader:
    assert installation.store.nowait is not None
    return installation.store.nowait


def test_only_sqlite_has_a_nowait_reader(installation: Installation) -> None:
    # PostgreSQL reads belong in a thread (a network round trip): it has none.
    assert (installation.store.nowait is not None) == (
        installation.store.engine.dialect.name == "sqlite"
    )


@SQLITE_ONLY
def test_a_stack_reads_as_through_a_transaction(
    installation: Installation, stack_target: Target
) -> None:
    reader = _sqlite(installation)
    assert stack_target.stack is not None
    for uid in (stack_target.stack.uid, "no-such-stack"):
        with installation.store.read() as conn:
            expected = queries.stack_request(conn, uid)
        assert queries.nowait_stack_request(reader, uid) == expected
    found = queries.nowait_stack_request(reader, stack_target.stack.uid)
    assert found is not None
    assert found[1] is not None
    assert found[1][0] == stack_target.stack  # datetimes converted as Store.read converts them


@SQLITE_ONLY
def test_the_next_read_sees_what_was_just_committed(
    installation: Installation, stack_target: Target
) -> None:
    reader = _sqlite(installation)
    assert stack_target.stack is not None
    uid = stack_target.stack.uid
    before = queries.nowait_stack_request(reader, uid)
    set_local(installation, stack_target, {"K": "v"})
    after = queries.nowait_stack_request(reader, uid)
    with installation.store.read() as conn:
        assert after == queries.stack_request(conn, uid)
    assert before is not None
    assert after is not None
    assert before[1] != after[1]


@SQLITE_ONLY
def test_it_cannot_write(installation: Installation) -> None:
    assert _sqlite(installation).first(QUERY_ONLY, {}) == (1,)


@SQLITE_ONLY
def test_it_gives_up_at_once_while_another_process_locks_the_database(
    installation: Installation, stack_target: Target
) -> None:
    reader = _sqlite(installation)
    assert stack_target.stack is not None
    uid = stack_target.stack.uid
    assert queries.nowait_stack_request(reader, uid) is not None
    database = installation.store.engine.url.database
    assert database is not None
    installation.store.engine.dispose()  # nothing of ours holds the file while the other locks it
    reader.close()
    reader = NoWaitReader(installation.store.engine)
    other = sqlite3.connect(database, isolation_level=None)
    try:
        other.execute("PRAGMA locking_mode = EXCLUSIVE")
        other.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        assert queries.nowait_stack_request(reader, uid) is None
        assert time.monotonic() - started < 1.0  # no busy wait (the engine's is 30 s)
    finally:
        other.execute("COMMIT")
        other.close()
    assert queries.nowait_stack_request(reader, uid) is not None  # opened again
    reader.close()


@SQLITE_ONLY
def test_it_does_not_queue_behind_another_thread(
    installation: Installation, stack_target: Target
) -> None:
    reader = _sqlite(installation)
    assert stack_target.stack is not None
    entered, release = threading.Event(), threading.Event()

    def busy(*_: object) -> int:
        entered.set()
        release.wait(10)
        return 0

    # The reader's own connection runs a slow function in one thread; the next caller goes on.
    reader_connection = reader._connection or reader._open()
    assert reader_connection is not None
    reader_connection.create_function("busy", 0, busy)
    slow = threading.Thread(target=reader.first, args=(BUSY, {}))
    slow.start()
    try:
        assert entered.wait(10)
        started = time.monotonic()
        assert queries.nowait_stack_request(reader, stack_target.stack.uid) is None
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
        slow.join(10)
    assert queries.nowait_stack_request(reader, stack_target.stack.uid) is not None


def test_a_missing_database_is_not_created(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'gone.db'}")
    assert store.nowait is not None
    assert store.nowait.first(QUERY_ONLY, {}) is None
    assert not (tmp_path / "gone.db").exists()
    store.close()


@SQLITE_ONLY
def test_nothing_is_read_once_closed(installation: Installation) -> None:
    reader = _sqlite(installation)
    assert reader.first(QUERY_ONLY, {}) == (1,)
    reader.close()
    assert reader.first(QUERY_ONLY, {}) is None


@SQLITE_ONLY
def test_rows_are_converted_again_when_they_change_and_the_kept_ones_stay_bounded(
    installation: Installation,
) -> None:
    from sqlalchemy import bindparam

    from stacksafe.store.nowait import CONVERTED_ROWS_MAX

    reader = _sqlite(installation)
    echo = select(bindparam("n", type_=Integer).label("n"))
    for n in range(CONVERTED_ROWS_MAX + 50):
        assert reader.first(echo, {"n": n}) == (n,)
    kept = reader._statements.of(echo)._converted
    assert 0 < len(kept) <= CONVERTED_ROWS_MAX
