"""PostgreSQL's reader for the event loop (store.loop_reader): one statement per call, read only,
never queued behind a lock, None for whatever goes wrong, a few connections per loop."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any

import psycopg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, func, select, text

from stacksafe.store import Store, loop_reader
from stacksafe.store.loop_reader import APPLICATION_NAME, CONNECTIONS, LoopReader
from tests.store.test_commit_group import store

__all__ = ["store"]  # the fixture, shared with tests/store/test_commit_group.py

# Most of this is PostgreSQL's alone: SQLite's reader is store.nowait (tests/api/test_fast_path.py).
POSTGRESQL = pytest.mark.databases("postgresql")

_items = Table("items", MetaData(), Column("n", Integer, primary_key=True))
BY_N = select(_items.c.n).where(_items.c.n == bindparam("n"))
# A SELECT that writes: it advances a sequence.
NEXT = select(func.nextval("items_seq").label("next"))
# A SELECT that runs for a minute unless something stops it.
SLOW = select(func.pg_sleep(60).label("slept"))


@pytest.fixture
def seeded(store: Store) -> Store:
    """The store with row 1 in ``items`` (and a sequence, on PostgreSQL)."""
    with store.write() as conn:
        conn.execute(text("INSERT INTO items VALUES (1)"))
        if store.dialect == "postgresql":
            conn.execute(text("CREATE SEQUENCE items_seq"))
    return store


def _reader(store: Store) -> LoopReader:
    assert store.loop_reader is not None
    return store.loop_reader


def _first(store: Store, statement: Any = BY_N, n: int = 1) -> Any:
    return asyncio.run(_reader(store).first(statement, {"n": n}))


def _admin(store: Store) -> psycopg.Connection[tuple[Any, ...]]:
    url = store.engine.url
    return psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    )


def _reader_backends(store: Store) -> list[int]:
    with _admin(store) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = %s",
            (APPLICATION_NAME, store.engine.url.database),
        )
        return [row[0] for row in rows]


def test_sqlite_reads_at_once_and_postgresql_on_the_loop(store: Store) -> None:
    on_postgresql = store.dialect == "postgresql"
    assert (store.loop_reader is not None) == on_postgresql
    assert (store.nowait is not None) == (not on_postgresql)


@POSTGRESQL
def test_each_call_is_one_statement_that_sees_what_is_committed(seeded: Store) -> None:
    assert tuple(_first(seeded)) == (1,)
    assert _first(seeded).n == 1  # by name, as a SQLAlchemy row
    assert _first(seeded, n=2) is None  # no such row
    with seeded.write() as conn:
        conn.execute(text("INSERT INTO items VALUES (2)"))
    assert _first(seeded, n=2).n == 2  # nothing kept between calls


@POSTGRESQL
def test_it_cannot_write(seeded: Store) -> None:
    assert _first(seeded, NEXT) is None  # refused (read only), so: the ordinary path
    with seeded.read() as conn:
        assert conn.execute(text("SELECT is_called FROM items_seq")).scalar_one() is False


@POSTGRESQL
def test_it_does_not_queue_behind_a_lock(seeded: Store) -> None:
    with _admin(seeded) as holder:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        assert _first(seeded) is None  # given up on, for the ordinary path to wait
        holder.execute("ROLLBACK")
    assert _first(seeded).n == 1


@POSTGRESQL
def test_a_long_statement_is_cancelled_by_the_server(
    seeded: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop_reader, "STATEMENT_SECONDS", 0.2)
    # Its own loop, so its connections are opened with the bound above and dropped with it.
    assert _first(seeded, SLOW) is None  # statement_timeout: for the ordinary path to wait
    assert _first(seeded).n == 1  # a new connection serves the next read
    with _admin(seeded) as admin:
        sleeping = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND state = 'active'",
            ("%pg_sleep%",),
        ).fetchone()
    assert sleeping == (0,)


@POSTGRESQL
def test_a_silent_server_is_given_up_on(seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend that stops answering (SIGSTOP: as a hung server or a network dropping packets
    looks to the client) does not keep the loop's read for ever: None, and a new connection."""
    monkeypatch.setattr(loop_reader, "STATEMENT_SECONDS", 0.2)
    reader = _reader(seeded)

    async def reads() -> tuple[Any, Any, Any]:
        before = await reader.first(BY_N, {"n": 1})
        (backend,) = await asyncio.to_thread(_reader_backends, seeded)
        os.kill(backend, signal.SIGSTOP)
        try:
            silent = await reader.first(BY_N, {"n": 1})
        finally:
            os.kill(backend, signal.SIGCONT)
        return before, silent, await reader.first(BY_N, {"n": 1})

    before, silent, after = asyncio.run(reads())
    assert (before.n, silent, after.n) == (1, None, 1)


@POSTGRESQL
def test_a_lost_connection_gives_none_once_then_is_replaced(seeded: Store) -> None:
    reader = _reader(seeded)

    async def reads() -> list[Any]:
        got = [await reader.first(BY_N, {"n": 1})]
        (backend,) = await asyncio.to_thread(_reader_backends, seeded)
        with _admin(seeded) as admin:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (backend,))
        got.append(await reader.first(BY_N, {"n": 1}))
        got.append(await reader.first(BY_N, {"n": 1}))
        return got

    first, lost, again = asyncio.run(reads())
    assert (first.n, lost, again.n) == (1, None, 1)


@POSTGRESQL
def test_concurrent_reads_share_at_most_its_connections(seeded: Store) -> None:
    reader = _reader(seeded)

    async def reads() -> tuple[list[Any], int]:
        rows = await asyncio.gather(*(reader.first(BY_N, {"n": 1}) for _ in range(3 * CONNECTIONS)))
        return rows, len(await asyncio.to_thread(_reader_backends, seeded))

    rows, connections = asyncio.run(reads())
    assert [row.n for row in rows] == [1] * (3 * CONNECTIONS)
    assert connections == CONNECTIONS


@POSTGRESQL
def test_another_loop_reads_only_once_the_first_has_stopped(seeded: Store) -> None:
    async def while_running() -> tuple[Any, Any]:
        mine = await _reader(seeded).first(BY_N, {"n": 1})
        # A second loop, in another thread, while this one runs (and holds the connections).
        other = await asyncio.to_thread(_first, seeded)
        return mine, other

    mine, other = asyncio.run(while_running())
    assert (mine.n, other) == (1, None)
    assert _first(seeded).n == 1  # the first loop is closed: this one's connections


@POSTGRESQL
def test_a_closed_store_reads_nothing(seeded: Store) -> None:
    assert _first(seeded).n == 1
    seeded.close()
    assert _first(seeded) is None


@POSTGRESQL
def test_a_close_from_another_thread_while_the_loop_reads_is_safe(seeded: Store) -> None:
    # close() from another thread while the loop runs: the connections are closed in the loop.
    started, closed = threading.Event(), threading.Event()

    async def reads() -> list[Any]:
        got = [await _reader(seeded).first(BY_N, {"n": 1})]
        started.set()
        await asyncio.to_thread(closed.wait)
        got.append(await _reader(seeded).first(BY_N, {"n": 1}))
        return got

    def close() -> None:
        started.wait()
        seeded.close()
        closed.set()

    closer = threading.Thread(target=close)
    closer.start()
    got = asyncio.run(reads())
    closer.join()
    assert (got[0].n, got[1]) == (1, None)


# A read that takes a while on the database, to be in the middle of one.
SLOW = select(func.pg_sleep(0.5).label("slept"))


def _reading(store: Store) -> bool:
    """Whether a backend of the reader is running ``SLOW`` now."""
    with _admin(store) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND datname = %s"
            " AND state = 'active' AND query LIKE %s",
            (APPLICATION_NAME, store.engine.url.database, "%pg_sleep%"),
        ).fetchone()
        return found is not None


@POSTGRESQL
@pytest.mark.parametrize("closer", ["another thread", "the loop"])
def test_a_close_mid_read_lets_the_read_end(seeded: Store, closer: str) -> None:
    # The read in flight ends (its connection closed after it); closing its socket under the
    # loop left it waiting for an answer for ever.
    reader = _reader(seeded)

    async def reads() -> tuple[bool, Any]:
        reading = asyncio.ensure_future(reader.first(SLOW, {}))
        while not await asyncio.to_thread(_reading, seeded):
            await asyncio.sleep(0)  # until the statement runs on the database
        if closer == "the loop":
            seeded.close()
        else:
            await asyncio.to_thread(seeded.close)
        # A guard against hanging the suite, not a measure: the read takes half a second.
        done, _ = await asyncio.wait([reading], timeout=60)
        return bool(done), reading.result() if done else None

    ended, row = asyncio.run(reads())
    assert ended
    assert row is not None
