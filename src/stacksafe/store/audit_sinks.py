"""Queries for the audit stream's sinks: their rows; the delivery lease and the cursor's
compare-and-set are store.cursors' (shared with the webhooks), bound to this table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, select

from stacksafe.store.cursors import CursorTable
from stacksafe.store.stream_tables import audit_sinks

__all__ = [
    "CURSORS",
    "StoredSink",
    "advance_cursor",
    "delete_sink",
    "insert_sink",
    "list_sinks",
    "record_error",
    "release_lease",
    "set_paused",
    "sink_by_id",
    "sink_by_name",
    "take_lease",
]


@dataclass(frozen=True, slots=True)
class StoredSink:
    id: int
    name: str
    type: str
    config: str  # JSON: the options that are not credentials
    sealed: bytes | None = None
    paused: bool = False
    cursor: int = 0
    lease_holder: str | None = None
    lease_until: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_delivered_at: datetime | None = None
    created_at: datetime | None = None

    def __repr__(self) -> str:  # the sealed credentials are ciphertext, but no need to print it
        return f"StoredSink(id={self.id}, name={self.name!r}, type={self.type!r})"


def _sink(row: Row[Any]) -> StoredSink:
    found = row._mapping
    return StoredSink(
        **{
            **{k: found[k] for k in found},
            "sealed": None if found["sealed"] is None else bytes(found["sealed"]),
            "paused": bool(found["paused"]),
            "cursor": int(found["cursor"]),
        }
    )


def insert_sink(
    conn: Connection,
    *,
    name: str,
    type_: str,
    config: str,
    sealed: bytes | None,
    cursor: int,
    now: datetime,
) -> StoredSink:
    values = {
        "name": name,
        "type": type_,
        "config": config,
        "sealed": sealed,
        "cursor": cursor,
        "created_at": now,
    }
    found = sink_by_id(conn, CURSORS.insert(conn, values))
    assert found is not None  # noqa: S101 - inserted just now, in this transaction
    return found


def sink_by_name(conn: Connection, name: str) -> StoredSink | None:
    row = conn.execute(select(audit_sinks).where(audit_sinks.c.name == name)).first()
    return None if row is None else _sink(row)


def sink_by_id(conn: Connection, sink_id: int) -> StoredSink | None:
    row = conn.execute(select(audit_sinks).where(audit_sinks.c.id == sink_id)).first()
    return None if row is None else _sink(row)


def list_sinks(conn: Connection) -> list[StoredSink]:
    return [_sink(r) for r in conn.execute(select(audit_sinks).order_by(audit_sinks.c.name))]


def delete_sink(conn: Connection, sink_id: int) -> None:
    conn.execute(delete(audit_sinks).where(audit_sinks.c.id == sink_id))


# The lease, the cursor and the pause: the queries every table of streams shares.
CURSORS = CursorTable(audit_sinks)
set_paused = CURSORS.set_paused
take_lease = CURSORS.take_lease
release_lease = CURSORS.release_lease
advance_cursor = CURSORS.advance_cursor
record_error = CURSORS.record_error
