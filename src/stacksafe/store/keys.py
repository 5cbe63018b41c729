"""Queries for master-key check values and wrapped data keys. The store never sees key material."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    bindparam,
    func,
    insert,
    select,
    update,
)

from stacksafe.store.driver import DriverStatement
from stacksafe.store.schema import accounts, data_keys, master_keys, server_keys, stacks

__all__ = [
    "StoredDataKey",
    "WrappedDataKey",
    "data_keys_below",
    "data_keys_by_master_version",
    "data_keys_of",
    "insert_data_key",
    "insert_server_key",
    "master_key_check_values",
    "newest_data_key",
    "record_seals",
    "register_master_key",
    "rewrap_data_key",
    "rewrap_server_key",
    "send_claim_seals",
    "server_keys_below",
    "server_keys_by_master_version",
    "server_keys_of",
    "stacks_data_keys",
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


def _newest_query(stack_level: bool) -> Select[Any]:
    scope = (
        data_keys.c.stack_id == bindparam("stack_id")
        if stack_level
        else (data_keys.c.account_id == bindparam("account_id")) & data_keys.c.stack_id.is_(None)
    )
    return select(data_keys).where(scope).order_by(data_keys.c.version.desc()).limit(1)


@cache
def _newest(stack_level: bool, lock: bool) -> DriverStatement:
    """The newest data key of a level (through the driver: every write of a secret asks)."""
    query = _newest_query(stack_level)
    return DriverStatement(query.with_for_update() if lock else query)


def newest_data_key(
    conn: Connection, account_id: int, stack_id: int | None, *, lock: bool = False
) -> StoredDataKey | None:
    given = {"account_id": account_id, "stack_id": stack_id}
    row = _newest(stack_id is not None, lock).first(conn, given)
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


def stacks_data_keys(conn: Connection, account_id: int) -> dict[int, list[StoredDataKey]]:
    """The data keys of every stack of an account, by stack id, in one query."""
    scope = (data_keys.c.account_id == account_id) & data_keys.c.stack_id.is_not(None)
    found: dict[int, list[StoredDataKey]] = {}
    for row in conn.execute(select(data_keys).where(scope)):
        found.setdefault(row.stack_id, []).append(_stored(row))
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


_RECORD_SEALS = DriverStatement(
    update(data_keys)
    .where(data_keys.c.id == bindparam("data_key_id"))
    .values(seal_count=data_keys.c.seal_count + bindparam("seals"))
)


def record_seals(conn: Connection, data_key_id: int, count: int) -> None:
    _RECORD_SEALS.execute(conn, {"data_key_id": data_key_id, "seals": count})


@cache
def _claim(stack_level: bool) -> DriverStatement:
    chosen = _newest_query(stack_level).with_only_columns(data_keys.c.id).scalar_subquery()
    return DriverStatement(
        update(data_keys)
        .where(
            data_keys.c.id == chosen,
            data_keys.c.seal_count + bindparam("seals") <= bindparam("limit"),
        )
        .values(seal_count=data_keys.c.seal_count + bindparam("seals"))
    )


def send_claim_seals(
    conn: Connection, account_id: int, stack_id: int | None, seals: int, limit: int
) -> Callable[[], StoredDataKey | None]:
    """Count ``seals`` more under the level's newest data key if that leaves it within
    ``limit``: the key (as it was before), read with its row locked as
    ``newest_data_key(lock=True)`` reads it, once called; None when there is no key or not
    room enough (nothing was counted then). Both statements sent now, so they may go in a
    batch (store.driver) with others."""
    stack_level = stack_id is not None
    given = {"account_id": account_id, "stack_id": stack_id, "seals": seals, "limit": limit}
    newest = _newest(stack_level, True).send(conn, given)
    counted = _claim(stack_level).send(conn, given)

    def claimed() -> StoredDataKey | None:
        row = newest.first()
        return None if row is None or counted.rowcount() != 1 else _stored(row)

    return claimed


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


# --- Master-key rotation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WrappedDataKey:
    """A data key as rotation sees it: its scope's uids (for the associated data) too."""

    id: int
    account_uid: str
    stack_uid: str | None
    version: int
    master_key_version: int
    wrapped_key: bytes


def data_keys_by_master_version(conn: Connection) -> dict[int, int]:
    rows = conn.execute(
        select(data_keys.c.master_key_version, func.count()).group_by(
            data_keys.c.master_key_version
        )
    )
    return {int(version): int(count) for version, count in rows}


def server_keys_by_master_version(conn: Connection) -> dict[int, int]:
    rows = conn.execute(
        select(server_keys.c.master_key_version, func.count()).group_by(
            server_keys.c.master_key_version
        )
    )
    return {int(version): int(count) for version, count in rows}


def data_keys_below(conn: Connection, master_key_version: int, limit: int) -> list[WrappedDataKey]:
    """Up to ``limit`` data keys wrapped under an older master-key version, locked."""
    query = (
        select(
            data_keys.c.id,
            accounts.c.uid,
            stacks.c.uid,
            data_keys.c.version,
            data_keys.c.master_key_version,
            data_keys.c.wrapped_key,
        )
        .join(accounts, accounts.c.id == data_keys.c.account_id)
        .outerjoin(stacks, stacks.c.id == data_keys.c.stack_id)
        .where(data_keys.c.master_key_version < master_key_version)
        .order_by(data_keys.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=data_keys)
    return [
        WrappedDataKey(int(i), a, s, int(v), int(mk), bytes(w))
        for i, a, s, v, mk, w in conn.execute(query).all()
    ]


def rewrap_data_key(
    conn: Connection, key_id: int, old_version: int, new_version: int, wrapped: bytes
) -> int:
    """Store a data key's new wrapping if it is still under ``old_version``; 1 if it was."""
    result = conn.execute(
        update(data_keys)
        .where(data_keys.c.id == key_id, data_keys.c.master_key_version == old_version)
        .values(master_key_version=new_version, wrapped_key=wrapped)
    )
    return int(result.rowcount)


def server_keys_below(
    conn: Connection, master_key_version: int
) -> list[tuple[str, int, int, bytes]]:
    """(purpose, version, master-key version, wrapped) of server keys under older versions."""
    rows = conn.execute(
        select(
            server_keys.c.purpose,
            server_keys.c.version,
            server_keys.c.master_key_version,
            server_keys.c.wrapped_key,
        ).where(server_keys.c.master_key_version < master_key_version)
    )
    return [(p, int(v), int(mk), bytes(w)) for p, v, mk, w in rows]


def rewrap_server_key(
    conn: Connection,
    purpose: str,
    version: int,
    old_version: int,
    new_version: int,
    wrapped: bytes,
) -> int:
    result = conn.execute(
        update(server_keys)
        .where(
            server_keys.c.purpose == purpose,
            server_keys.c.version == version,
            server_keys.c.master_key_version == old_version,
        )
        .values(master_key_version=new_version, wrapped_key=wrapped)
    )
    return int(result.rowcount)
