"""A store of the test's database with a scratch table of numbers, for tests of write
transactions and group commits, and a bounded wait for what a test cannot be told about."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, text

from stacksafe.store import Store

__all__ = ["counted_commits", "inserting", "scratch_store", "stored", "wait_until"]


@contextmanager
def scratch_store(database_url: str, tmp_path: Path, *more_tables: str) -> Iterator[Store]:
    """A store with ``items (n INTEGER PRIMARY KEY)`` and ``more_tables`` (their DDL)."""
    (tmp_path / "data").mkdir(exist_ok=True)  # where the SQLite URL points
    store = Store.from_url(database_url)
    with store.write() as conn:
        for ddl in ("CREATE TABLE items (n INTEGER PRIMARY KEY)", *more_tables):
            conn.execute(text(ddl))
    try:
        yield store
    finally:
        store.close()


def stored(store: Store) -> list[int]:
    with store.read() as conn:
        return list(conn.execute(text("SELECT n FROM items ORDER BY n")).scalars())


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """A bounded poll of state the test cannot be told about (no fixed sleep)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.001)


def inserting(n: int) -> Callable[[Connection], Any]:
    """A write of ``n`` into ``items``, whose result is ``n * n``."""

    def work(conn: Connection) -> int:
        conn.execute(text("INSERT INTO items (n) VALUES (:n)"), {"n": n})
        return n * n

    return work


def counted_commits(store: Store) -> list[int]:
    """A list that grows by one at every COMMIT of a transaction (not a savepoint's release)."""
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    return commits
