"""Queries that delete a stack or an account, and destroy the values they hold first.

Every row with a foreign key to the level goes with it: its secrets and their versions, their
rotation policies, its data keys, its KV bookkeeping (``level_writes``, ``kv_paths``,
``kv_versions``) and the roles users held in it. Statements name the level, never a list of
ids: a level may hold more secrets than a statement may have parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Table, and_, delete, select, update
from sqlalchemy.exc import OperationalError

from stacksafe.store.schema import (
    accounts,
    data_keys,
    kv_paths,
    kv_versions,
    level_writes,
    memberships,
    rotation_policies,
    secret_versions,
    secrets,
    stack_roles,
    stacks,
)
from stacksafe.store.transactions import Store

__all__ = [
    "HeldKey",
    "checkpoint_freed",
    "delete_account_level",
    "delete_stack",
    "destroy_held",
    "held_keys",
    "overwrite_freed",
]


@dataclass(frozen=True, slots=True)
class HeldKey:
    """A key of a level that still holds ciphertext: in versions, or as a pending rotation."""

    key: str
    current_version: int
    versions: tuple[int, ...]  # the versions whose ciphertext is still stored
    pending: bool  # a rotation in progress holds a sealed new value


def overwrite_freed(conn: Connection, on: bool) -> None:
    """SQLite: from now on in this connection, overwrite what deletes and updates free with
    zeros (``secure_delete``), instead of leaving the bytes in free space until reused. Turned
    on for a delete's transaction and off again at its end (it costs writes). PostgreSQL keeps
    old row versions until VACUUM whatever is asked: there, what is unreachable by SQL is
    unreachable, and the deleted data keys mean none of it can be opened."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA secure_delete = {'ON' if on else 'OFF'}")


def checkpoint_freed(store: Store) -> bool:
    """SQLite: copy the write-ahead log into the database file and empty it, so the pages a
    delete zeroed replace their old images in both files. Best effort, after the delete
    committed: False when another connection kept it from finishing (a reader of an older
    snapshot, a writer), and SQLite's own checkpoints finish the work later."""
    if store.dialect != "sqlite":
        return True
    try:
        with store.engine.connect() as conn:
            busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
    except OperationalError:
        return False
    return busy == 0


def _level(account_id: int, stack_id: int | None) -> ColumnElement[bool]:
    if stack_id is None:
        return and_(secrets.c.account_id == account_id, secrets.c.stack_id.is_(None))
    return secrets.c.stack_id == stack_id


def held_keys(conn: Connection, account_id: int, stack_id: int | None) -> list[HeldKey]:
    """The keys of one level (``stack_id`` None: the account's own) that hold any ciphertext,
    by key."""
    rows = conn.execute(
        select(
            secrets.c.id,
            secrets.c.key,
            secrets.c.current_version,
            rotation_policies.c.pending_envelope.is_not(None).label("pending"),
        )
        .select_from(
            secrets.outerjoin(rotation_policies, rotation_policies.c.secret_id == secrets.c.id)
        )
        .where(_level(account_id, stack_id))
        .order_by(secrets.c.key)
    ).all()
    versions: dict[int, list[int]] = {}
    for secret_id, version in conn.execute(
        select(secret_versions.c.secret_id, secret_versions.c.version)
        .where(
            secret_versions.c.secret_id.in_(
                select(secrets.c.id).where(_level(account_id, stack_id))
            ),
            secret_versions.c.envelope.is_not(None),
        )
        .order_by(secret_versions.c.secret_id, secret_versions.c.version)
    ):
        versions.setdefault(secret_id, []).append(version)
    return [
        HeldKey(row.key, row.current_version, tuple(versions.get(row.id, ())), bool(row.pending))
        for row in rows
        if row.id in versions or row.pending
    ]


def destroy_held(conn: Connection, account_id: int, stack_id: int | None, now: datetime) -> None:
    """Destroy every ciphertext of one level: each version's envelope emptied and marked
    destroyed (as ``secrets destroy`` does), and a pending rotation's sealed value dropped."""
    ids = select(secrets.c.id).where(_level(account_id, stack_id))
    conn.execute(
        update(secret_versions)
        .where(secret_versions.c.secret_id.in_(ids), secret_versions.c.envelope.is_not(None))
        .values(envelope=None, destroyed_at=now)
    )
    conn.execute(
        update(rotation_policies)
        .where(rotation_policies.c.secret_id.in_(ids))
        .values(pending_version=None, pending_envelope=None, pending_since=None)
    )


def _delete_level_rows(conn: Connection, account_id: int, stack_id: int | None) -> None:
    """The rows of one level's own, children first."""
    ids = select(secrets.c.id).where(_level(account_id, stack_id))
    conn.execute(delete(rotation_policies).where(rotation_policies.c.secret_id.in_(ids)))
    conn.execute(delete(secret_versions).where(secret_versions.c.secret_id.in_(ids)))
    conn.execute(delete(secrets).where(_level(account_id, stack_id)))
    for table in (data_keys, level_writes, kv_paths, kv_versions):
        if stack_id is None:
            where = and_(table.c.account_id == account_id, table.c.stack_id.is_(None))
        else:
            where = table.c.stack_id == stack_id
        conn.execute(delete(table).where(where))


def _delete_roles(conn: Connection, table: Table, where: ColumnElement[bool]) -> list[int]:
    """Delete the role rows of ``table`` (``memberships`` or ``stack_roles``) that ``where``
    names; the ids of the users who held them."""
    held = [row.user_id for row in conn.execute(select(table.c.user_id).where(where))]
    conn.execute(delete(table).where(where))
    return held


def delete_stack(conn: Connection, account_id: int, stack_id: int) -> list[int]:
    """Delete a stack and every row of its own (its values destroyed before, or none held);
    the ids of the users who held a role in it."""
    _delete_level_rows(conn, account_id, stack_id)
    held = _delete_roles(conn, stack_roles, stack_roles.c.stack_id == stack_id)
    conn.execute(delete(stacks).where(stacks.c.id == stack_id))
    return held


def delete_account_level(conn: Connection, account_id: int) -> list[int]:
    """Delete an account whose stacks are deleted already, with its own level's rows and its
    memberships; the ids of the users who were members."""
    _delete_level_rows(conn, account_id, None)
    held = _delete_roles(conn, memberships, memberships.c.account_id == account_id)
    conn.execute(delete(accounts).where(accounts.c.id == account_id))
    return held
