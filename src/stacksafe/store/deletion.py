"""Queries that delete a stack or an account, and destroy the values they hold first.

A deleted level keeps its row, marked (``deleted_at``, its name moved to ``deleted_name``:
revision 0017), and so do its secrets and their version rows: its history stays, with every
ciphertext emptied and marked destroyed. What gives access or could open anything goes: the
roles users held in it, its data keys, its rotation policies and its KV bookkeeping
(``level_writes``, ``kv_paths``, ``kv_versions``). Statements name the level, never a list of
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
    "tombstone",
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


def _empty_level(conn: Connection, account_id: int, stack_id: int | None) -> None:
    """What of one level gives access or could open anything goes: its rotation policies, data
    keys and KV bookkeeping. Its secrets' rows and version rows stay (their ciphertexts are
    gone: ``destroy_held`` came first), each secret marked deleted, so no read finds a value."""
    ids = select(secrets.c.id).where(_level(account_id, stack_id))
    conn.execute(delete(rotation_policies).where(rotation_policies.c.secret_id.in_(ids)))
    conn.execute(
        update(secrets)
        .where(_level(account_id, stack_id), secrets.c.deleted.is_(False))
        .values(deleted=True)
    )
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


def tombstone(uid: str) -> str:
    """The ``name`` a deleted level's row takes (revision 0017): no valid name holds a control
    character (core.validation.validate_name), so it frees the name and collides with none."""
    return f"\x1fdeleted\x1f{uid}"


def _mark(conn: Connection, table: Table, level_id: int, now: datetime) -> None:
    row = conn.execute(select(table.c.uid, table.c.name).where(table.c.id == level_id)).one()
    conn.execute(
        update(table)
        .where(table.c.id == level_id)
        .values(name=tombstone(row.uid), deleted_name=row.name, deleted_at=now, updated_at=now)
    )


def delete_stack(conn: Connection, account_id: int, stack_id: int, now: datetime) -> list[int]:
    """Mark a stack deleted (its values destroyed before, or none held) and remove what gives
    access to it; the ids of the users who held a role in it."""
    _empty_level(conn, account_id, stack_id)
    held = _delete_roles(conn, stack_roles, stack_roles.c.stack_id == stack_id)
    _mark(conn, stacks, stack_id, now)
    return held


def delete_account_level(conn: Connection, account_id: int, now: datetime) -> list[int]:
    """Mark an account deleted whose stacks are marked already, and remove its own level's
    keys and policies and its memberships; the ids of the users who were members."""
    _empty_level(conn, account_id, None)
    held = _delete_roles(conn, memberships, memberships.c.account_id == account_id)
    _mark(conn, accounts, account_id, now)
    return held
