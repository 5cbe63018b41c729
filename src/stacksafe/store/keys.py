"""Queries for master-key check values and wrapped data keys. The store never sees key material."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, insert, select, update

from stacksafe.store.schema import data_keys, master_keys, server_keys

__all__ = [
    "StoredDataKey",
    "data_keys_of",
    "insert_data_key",
    "insert_server_key",
    "master_key_check_values",
    "newest_data_key",
    "record_seals",
    "register_master_key",
    "server_keys_of",
]


@dataclass(frozen=True, slots=True)
class StoredDataKey:
    id: int
    version: int
    master_key_version: int
    wrapped_key: bytes
    seal_count: int


def master_key_check_values(conn: Connection) -> dict[int, bytes]:
    rows = conn.execute(select(master_keys.c.version, master_keys.c.check_value))
    return {version: bytes(kcv) for version, kcv in rows}


def register_master_key(conn: Connection, version: int, check_value: bytes, now: datetime) -> None:
    conn.execute(
        insert(master_keys).values(version=version, check_value=check_value, created_at=now)
    )


def _scope_clause(account_id: int, stack_id: int | None) -> ColumnElement[bool]:
    if stack_id is None:
        return (data_keys.c.account_id == account_id) & data_keys.c.stack_id.is_(None)
    return data_keys.c.stack_id == stack_id


def _stored(row: Row[Any]) -> StoredDataKey:
    return StoredDataKey(
        row.id, row.version, row.master_key_version, bytes(row.wrapped_key), row.seal_count
    )


def newest_data_key(
    conn: Connection, account_id: int, stack_id: int | None, *, lock: bool = False
) -> StoredDataKey | None:
    query = (
        select(data_keys)
        .where(_scope_clause(account_id, stack_id))
        .order_by(data_keys.c.version.desc())
        .limit(1)
    )
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else _stored(row)


def data_keys_of(
    conn: Connection, account_id: int, stack_id: int | None
) -> dict[bool, list[StoredDataKey]]:
    """The data keys a stack's reads need, in one query, by level (True: the stack's own).

    With ``stack_id`` None, only the account level's.
    """
    scope = _scope_clause(account_id, None)
    if stack_id is not None:
        scope = scope | _scope_clause(account_id, stack_id)
    found: dict[bool, list[StoredDataKey]] = {False: [], True: []}
    for row in conn.execute(select(data_keys).where(scope)):
        found[row.stack_id is not None].append(_stored(row))
    return found


def insert_data_key(
    conn: Connection,
    account_id: int,
    stack_id: int | None,
    version: int,
    master_key_version: int,
    wrapped_key: bytes,
    now: datetime,
) -> int:
    new_id: int = conn.execute(
        insert(data_keys)
        .values(
            account_id=account_id,
            stack_id=stack_id,
            version=version,
            master_key_version=master_key_version,
            wrapped_key=wrapped_key,
            seal_count=0,
            created_at=now,
        )
        .returning(data_keys.c.id)
    ).scalar_one()
    return new_id


def record_seals(conn: Connection, data_key_id: int, count: int) -> None:
    conn.execute(
        update(data_keys)
        .where(data_keys.c.id == data_key_id)
        .values(seal_count=data_keys.c.seal_count + count)
    )


def server_keys_of(conn: Connection, purpose: str) -> list[tuple[int, int, bytes]]:
    """(version, master-key version, wrapped key) of every key of ``purpose``, newest first."""
    rows = conn.execute(
        select(server_keys.c.version, server_keys.c.master_key_version, server_keys.c.wrapped_key)
        .where(server_keys.c.purpose == purpose)
        .order_by(server_keys.c.version.desc())
    )
    return [(v, mk, bytes(w)) for v, mk, w in rows]


def insert_server_key(
    conn: Connection,
    purpose: str,
    version: int,
    master_key_version: int,
    wrapped: bytes,
    now: datetime,
) -> None:
    conn.execute(
        insert(server_keys).values(
            purpose=purpose,
            version=version,
            master_key_version=master_key_version,
            wrapped_key=wrapped,
            created_at=now,
        )
    )
