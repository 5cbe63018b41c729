"""store.driver: statements through the driver read and write what SQLAlchemy would, in the same
transaction, and fail as SQLAlchemy fails (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, insert, select
from sqlalchemy import exc as sa_exc

from stacksafe.store import Store
from stacksafe.store.driver import DriverStatement
from stacksafe.store.schema import UTCDateTime

things = Table(
    "driver_things",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("name", String(50), nullable=False),
    Column("blob", LargeBinary, nullable=True),
)
INSERT = DriverStatement(insert(things), [c.key for c in things.c])
BY_ID = DriverStatement(select(things.c.name).where(things.c.id == 7))


def store_with_things(database_url: str, tmp_path: Path) -> Iterator[Store]:
    """A store on ``database_url`` holding the ``things`` table (also test_driver_batches')."""
    (tmp_path / "data").mkdir(exist_ok=True)
    store = Store.from_url(database_url)
    things.create(store.engine)
    yield store
    store.close()


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    yield from store_with_things(database_url, tmp_path)


def test_rows_written_through_the_driver_read_back_as_through_sqlalchemy(store: Store) -> None:
    at = datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC)
    with store.write() as conn:
        INSERT.executemany(
            conn,
            [
                {"id": 7, "at": at, "name": "seven", "blob": b"\x00\xff"},
                {"id": 8, "at": at, "name": "eight"},  # a column left out: NULL
            ],
        )
        assert BY_ID.execute(conn, {}).fetchone()[0] == "seven"  # the same transaction
    with store.read() as conn:
        rows = conn.execute(select(things).order_by(things.c.id)).all()
    assert [tuple(r) for r in rows] == [(7, at, "seven", b"\x00\xff"), (8, at, "eight", None)]


def test_a_rolled_back_transaction_keeps_nothing_written_through_the_driver(store: Store) -> None:
    class Abandon(Exception):
        pass

    def write_then_fail() -> None:
        with store.write() as conn:
            INSERT.executemany(conn, [{"id": 1, "at": datetime.now(UTC), "name": "gone"}])
            raise Abandon

    with pytest.raises(Abandon):
        write_then_fail()
    with store.read() as conn:
        assert conn.execute(select(things)).all() == []


def test_a_driver_error_is_sqlalchemys_without_the_parameters(store: Store) -> None:
    row = {"id": 3, "at": datetime.now(UTC), "name": "secret-looking-parameter"}
    with store.write() as conn:
        INSERT.executemany(conn, [row])
    with pytest.raises(sa_exc.IntegrityError) as raised, store.write() as conn:
        INSERT.executemany(conn, [row])
    assert "secret-looking-parameter" not in str(raised.value)
    assert "INSERT INTO driver_things" in str(raised.value)
