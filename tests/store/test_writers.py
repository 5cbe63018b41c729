"""PostgreSQL's writer threads (store.writers): a write handed over from an event loop is a
transaction of its own, run as ``Store.transact`` runs it (retries, errors), in its submitter's
context, its outcome a future; closing the store runs what was handed over first."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, text

from stacksafe.errors import Conflict
from stacksafe.store import Store
from stacksafe.store.transactions import RetryWrite
from tests.store.scratch import scratch_store, stored

_REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    with scratch_store(database_url, tmp_path) as store:
        yield store


def test_each_handed_over_write_is_a_transaction_of_its_own_with_its_own_outcome(
    store: Store,
) -> None:
    """On both databases each its own outcome; on PostgreSQL each its own transaction (on
    SQLite the write group's members may share one: tests/store/test_write_group.py)."""
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    retried: list[int] = []

    def inserting(n: int) -> Any:
        def work(conn: Connection) -> tuple[int, str]:
            conn.execute(text("INSERT INTO items (n) VALUES (:n)"), {"n": n})
            if n == 3:
                raise Conflict("three is refused")
            if n == 4 and not retried:
                retried.append(n)
                raise RetryWrite
            return n * n, _REQUEST.get()

        return work

    futures = []
    for n in range(1, 6):
        _REQUEST.set(f"request {n}")
        futures.append(store.transact_later(inserting(n), f"w{n}"))
    outcomes: list[Any] = []
    for future in futures:
        try:
            outcomes.append(future.result(30))
        except Conflict as exc:
            outcomes.append(str(exc))
    # Each its result in its submitter's context; the refused one alone refused, the lost
    # race run again.
    assert outcomes == [
        (1, "request 1"),
        (4, "request 2"),
        "three is refused",
        (16, "request 4"),
        (25, "request 5"),
    ]
    assert retried == [4]
    if store.dialect == "postgresql":  # a COMMIT per write that succeeded: none shares one
        assert len(commits) == 4
    else:
        assert 1 <= len(commits) <= 4
    assert stored(store) == [1, 2, 4, 5]  # nothing of the refused write


@pytest.mark.databases("postgresql")  # SQLite's write group runs one write at a time
def test_writes_handed_over_run_at_once_side_by_side_and_close_waits_for_them(
    store: Store,
) -> None:
    """Two writes on different rows overlap (neither waits for the other's thread), and a
    store closed meanwhile commits them before it lets go of its connections."""
    both_in, release = threading.Barrier(2, timeout=30), threading.Event()

    def inserting(n: int) -> Any:
        def work(conn: Connection) -> int:
            conn.execute(text("INSERT INTO items (n) VALUES (:n)"), {"n": n})
            both_in.wait()  # fails unless the other write runs at the same time
            assert release.wait(30)
            return n

        return work

    first = store.transact_later(inserting(1), "one")
    second = store.transact_later(inserting(2), "two")
    closing = threading.Thread(target=store.close)
    closing.start()
    release.set()
    closing.join(30)
    assert not closing.is_alive()
    assert (first.result(0), second.result(0)) == (1, 2)
    with store.engine.connect() as conn:  # a disposed engine connects anew
        assert list(conn.execute(text("SELECT n FROM items ORDER BY n")).scalars()) == [1, 2]
