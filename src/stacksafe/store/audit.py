"""Queries for the append-only audit log and its head row (which orders concurrent appenders)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, insert, select, update

from stacksafe.store.schema import audit_events, audit_head

__all__ = [
    "StoredEvent",
    "insert_events",
    "iter_events",
    "lock_head",
    "move_head",
    "query_events",
    "read_head",
]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    at: datetime
    actor: str
    token_uid: str | None
    source_ip: str | None
    request_id: str | None
    action: str
    outcome: str
    account_uid: str | None
    stack_uid: str | None
    detail: str
    prev_hash: bytes
    hash: bytes


def _event(row: Row[Any]) -> StoredEvent:
    return StoredEvent(
        row.seq,
        row.at,
        row.actor,
        row.token_uid,
        row.source_ip,
        row.request_id,
        row.action,
        row.outcome,
        row.account_uid,
        row.stack_uid,
        row.detail,
        bytes(row.prev_hash),
        bytes(row.hash),
    )


# Built once: an audit append runs these on every reveal and change.
_LOCK_HEAD = (
    select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
)
_CREATE_HEAD = insert(audit_head)
_MOVE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"), mac=bindparam("new_mac"))
)
_READ_HEAD = select(audit_head.c.seq, audit_head.c.hash, audit_head.c.mac).where(
    audit_head.c.id == 1
)
_INSERT_EVENT = insert(audit_events)


def lock_head(conn: Connection, genesis: bytes) -> tuple[int, bytes]:
    """The last (seq, hash), locked until the transaction ends; creates the head on first use."""
    row = conn.execute(_LOCK_HEAD).first()
    if row is None:
        conn.execute(_CREATE_HEAD, {"id": 1, "seq": 0, "hash": genesis, "mac": b""})
        return 0, genesis
    return int(row[0]), bytes(row[1])


def move_head(conn: Connection, seq: int, hash_: bytes, mac: bytes) -> None:
    conn.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": hash_, "new_mac": mac})


def read_head(conn: Connection) -> tuple[int, bytes, bytes] | None:
    """(seq, hash, mac) of the head, or None before the first event."""
    row = conn.execute(_READ_HEAD).first()
    return None if row is None else (int(row[0]), bytes(row[1]), bytes(row[2]))


def insert_events(conn: Connection, events: Sequence[dict[str, object]]) -> None:
    """Rows of ``audit_events``, each with every column, in one statement."""
    conn.execute(_INSERT_EVENT, list(events))


def iter_events(conn: Connection, batch: int = 1000) -> Iterator[StoredEvent]:
    """Every event in sequence order, read in batches (the log may be large)."""
    after = 0
    while True:
        rows = conn.execute(
            select(audit_events)
            .where(audit_events.c.seq > after)
            .order_by(audit_events.c.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield _event(row)
        after = rows[-1].seq


def query_events(conn: Connection, query: Select[Any]) -> list[StoredEvent]:
    return [_event(r) for r in conn.execute(query)]
