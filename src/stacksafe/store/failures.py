"""Queries for counts of failed guesses per target and fixed window (migration 0012).

The store counts; what is counted, the limits and what a count means are core.guessing's.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from stacksafe.store.schema import failures
from stacksafe.store.upsert import dialect_insert

__all__ = [
    "add_counts",
    "add_failure",
    "counts_of",
    "failure_counts",
    "prune_failures",
    "take_back_failure",
]

BATCH_ROWS = 500  # rows per statement of ``add_counts`` and targets per ``counts_of``


def add_failure(conn: Connection, target: bytes, period: int, expires: int) -> int:
    """Count one failure of ``target`` in ``period``: the period's count after it. One
    statement (an upsert), so concurrent failures on any server each count once."""
    upsert = (
        dialect_insert(conn.dialect.name, failures)
        .values(target=target, period=period, failed=1, expires=expires)
        .on_conflict_do_update(
            index_elements=["target", "period"], set_={"failed": failures.c.failed + 1}
        )
        .returning(failures.c.failed)
    )
    return int(conn.execute(upsert).scalar_one())


def add_counts(conn: Connection, rows: list[tuple[bytes, int, int, int]]) -> None:
    """Add ``(target, period, count, expires)`` rows to the counts, creating what is missing;
    in a stable order (target, period), so that concurrent batches on PostgreSQL lock their
    rows in the same order instead of deadlocking."""
    ordered = sorted(row for row in rows if row[2] > 0)
    for start in range(0, len(ordered), BATCH_ROWS):
        chunk = ordered[start : start + BATCH_ROWS]
        statement = dialect_insert(conn.dialect.name, failures).values(
            [
                {"target": target, "period": period, "failed": count, "expires": expires}
                for target, period, count, expires in chunk
            ]
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["target", "period"],
                set_={"failed": failures.c.failed + statement.excluded.failed},
            )
        )


def counts_of(
    conn: Connection, targets: list[bytes], periods: tuple[int, int]
) -> dict[tuple[bytes, int], int]:
    """The counts of ``targets`` in ``periods``, by (target, period) (absent: none)."""
    found: dict[tuple[bytes, int], int] = {}
    for start in range(0, len(targets), BATCH_ROWS):
        rows = conn.execute(
            select(failures.c.target, failures.c.period, failures.c.failed).where(
                failures.c.target.in_(targets[start : start + BATCH_ROWS]),
                failures.c.period.in_(periods),
            )
        )
        for target, period, failed in rows:
            found[bytes(target), int(period)] = int(failed)
    return found


def take_back_failure(conn: Connection, target: bytes, period: int) -> None:
    """Undo one ``add_failure`` of ``target`` in ``period`` (the attempt turned out right)."""
    conn.execute(
        update(failures)
        .where(failures.c.target == target, failures.c.period == period, failures.c.failed > 0)
        .values(failed=failures.c.failed - 1)
    )


def failure_counts(conn: Connection, target: bytes, periods: tuple[int, int]) -> dict[int, int]:
    """The counts of ``target`` in the given periods (absent: none)."""
    rows = conn.execute(
        select(failures.c.period, failures.c.failed).where(
            failures.c.target == target, failures.c.period.in_(periods)
        )
    )
    return {int(period): int(failed) for period, failed in rows}


def prune_failures(conn: Connection, now: int) -> int:
    """Forget the counts that no longer weigh anything: the number of rows deleted."""
    return conn.execute(delete(failures).where(failures.c.expires <= now)).rowcount
