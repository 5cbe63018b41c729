"""Every table's rows as JSON-ready lists, and back: the queries behind backup and restore.

Rows go out in primary-key order, tables in foreign-key order (``metadata.sorted_tables``), so
loading them in the same order never meets a missing parent. Values are converted by column
type: bytes as base64, timestamps as ISO 8601 UTC; the rest is JSON already. Stored values are
ciphertext; nothing here can read them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, LargeBinary, Table, delete, func, insert, select, text

from stacksafe.store.schema import UTCDateTime, metadata

__all__ = [
    "KEY_TABLES",
    "TABLES",
    "column_names",
    "count_rows",
    "decoder",
    "delete_rows",
    "insert_rows",
    "iter_rows",
    "reset_sequences",
]

# Not backed up: revisions that triggers keep (migration 0008's one row; the restoring
# database has its own, and the restore's inserts replace it) and counts of failed guesses
# (migration 0012: they weigh for minutes, and a restored count would throttle strangers).
DERIVED_TABLES = frozenset({"principals_revision", "failures"})
TABLES: tuple[Table, ...] = tuple(t for t in metadata.sorted_tables if t.name not in DERIVED_TABLES)
# What `initialise` writes before any account exists: the master keys' check values and the
# server keys. A restore replaces them with the backup's.
KEY_TABLES = frozenset({"master_keys", "server_keys"})

Convert = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _encode_bytes(value: Any) -> Any:
    return None if value is None else base64.b64encode(bytes(value)).decode("ascii")


def _decode_bytes(value: Any) -> Any:
    return None if value is None else base64.b64decode(value, validate=True)


def _encode_time(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _decode_time(value: Any) -> Any:
    return None if value is None else datetime.fromisoformat(value)


def _converters(table: Table, encode: bool) -> list[Convert]:
    found: list[Convert] = []
    for column in table.columns:
        if isinstance(column.type, LargeBinary):
            found.append(_encode_bytes if encode else _decode_bytes)
        elif isinstance(column.type, UTCDateTime):
            found.append(_encode_time if encode else _decode_time)
        else:
            found.append(_identity)
    return found


def column_names(table: Table) -> list[str]:
    return [column.name for column in table.columns]


def count_rows(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def iter_rows(conn: Connection, table: Table, batch: int = 2000) -> Iterator[list[Any]]:
    """Every row of ``table`` as a list of JSON values in column order, by primary key."""
    convert = _converters(table, encode=True)
    query = select(table).order_by(*table.primary_key.columns)
    result = conn.execution_options(yield_per=batch).execute(query)
    for row in result:
        yield [f(value) for f, value in zip(convert, row, strict=True)]


def decoder(table: Table, columns: Sequence[str]) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """Turns a row from ``iter_rows`` (with these ``columns``) back into insertable values."""
    if list(columns) != column_names(table):
        raise ValueError(f"columns of {table.name} differ from this schema's")
    convert = _converters(table, encode=False)
    names = column_names(table)

    def decode(values: Sequence[Any]) -> dict[str, Any]:
        if len(values) != len(names):
            raise ValueError(f"a row of {table.name} has {len(values)} values, not {len(names)}")
        return {n: f(v) for n, f, v in zip(names, convert, values, strict=True)}

    return decode


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(table), list(rows))


def delete_rows(conn: Connection, table: Table) -> None:
    conn.execute(delete(table))


def reset_sequences(conn: Connection) -> None:
    """On PostgreSQL, move each id sequence past the ids inserted explicitly (no-op on SQLite)."""
    if conn.dialect.name != "postgresql":
        return
    for table in TABLES:
        if "id" not in table.columns or not table.c.id.autoincrement:
            continue
        sequence = conn.execute(
            text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
        ).scalar_one_or_none()
        if sequence is None:
            continue
        highest = conn.execute(select(func.max(table.c.id))).scalar_one_or_none()
        # setval(seq, n, false): the next id is n; an empty table starts at 1 again.
        conn.execute(
            text("SELECT setval(CAST(:sequence AS regclass), :next, false)"),
            {"sequence": sequence, "next": (highest or 0) + 1},
        )
