"""Queries for deleted stacks and accounts, whose rows stay marked (revision 0017): the
tombstones, and the version rows of their secrets (no ciphertext is left in them)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Connection, Select, and_, func, literal, null, select

from stacksafe.model import KeptVersion, Tombstone
from stacksafe.store.schema import accounts, secret_versions, secrets, stacks

__all__ = ["TombstoneRow", "kept_versions", "tombstone_by_uid", "tombstones"]


@dataclass(frozen=True, slots=True)
class TombstoneRow:
    """A deleted level as stored: what it shows (``shown``), and its ids (``stack_id`` None for
    an account's own level)."""

    shown: Tombstone
    account_id: int
    stack_id: int | None


def _counts(level: Any) -> tuple[Any, Any]:
    """(keys, versions) of a level's secrets, as correlated scalar subqueries."""
    keys = select(func.count()).select_from(secrets).where(level).scalar_subquery()
    versions = (
        select(func.count())
        .select_from(secret_versions.join(secrets, secrets.c.id == secret_versions.c.secret_id))
        .where(level)
        .scalar_subquery()
    )
    return keys, versions


def _stacks_query() -> Select[Any]:
    keys, versions = _counts(secrets.c.stack_id == stacks.c.id)
    return (
        select(
            literal("stack").label("kind"),
            stacks.c.uid,
            stacks.c.deleted_name.label("name"),
            stacks.c.account_id,
            accounts.c.uid.label("account_uid"),
            func.coalesce(accounts.c.deleted_name, accounts.c.name).label("account_name"),
            accounts.c.deleted_at.is_not(None).label("account_deleted"),
            stacks.c.id.label("stack_id"),
            stacks.c.environment,
            stacks.c.created_at,
            stacks.c.deleted_at,
            keys.label("keys"),
            versions.label("versions"),
        )
        .join(accounts, accounts.c.id == stacks.c.account_id)
        .where(stacks.c.deleted_at.is_not(None))
    )


def _accounts_query() -> Select[Any]:
    own = and_(secrets.c.account_id == accounts.c.id, secrets.c.stack_id.is_(None))
    keys, versions = _counts(own)
    return select(
        literal("account").label("kind"),
        accounts.c.uid,
        accounts.c.deleted_name.label("name"),
        accounts.c.id.label("account_id"),
        accounts.c.uid.label("account_uid"),
        accounts.c.deleted_name.label("account_name"),
        literal(True).label("account_deleted"),
        null().label("stack_id"),
        null().label("environment"),
        accounts.c.created_at,
        accounts.c.deleted_at,
        keys.label("keys"),
        versions.label("versions"),
    ).where(accounts.c.deleted_at.is_not(None))


_SHOWN = tuple(f.name for f in fields(Tombstone))


def _row(row: Any) -> TombstoneRow:
    shown = {name: getattr(row, name) for name in _SHOWN}
    shown["account_deleted"] = bool(shown["account_deleted"])  # SQLite answers 0 or 1
    return TombstoneRow(Tombstone(**shown), row.account_id, row.stack_id)


def tombstones(conn: Connection, account_id: int | None = None) -> list[TombstoneRow]:
    """Deleted levels, oldest deletion first: with ``account_id``, that account's deleted
    stacks; without, every deleted account and stack."""
    if account_id is not None:
        query = _stacks_query().where(stacks.c.account_id == account_id)
        return [_row(r) for r in conn.execute(query.order_by(stacks.c.deleted_at, stacks.c.id))]
    found = [_row(r) for r in conn.execute(_accounts_query())]
    found += [_row(r) for r in conn.execute(_stacks_query())]
    return sorted(found, key=lambda t: (t.shown.deleted_at, t.shown.kind, t.shown.uid))


def tombstone_by_uid(conn: Connection, uid: str) -> TombstoneRow | None:
    """The deleted stack or account whose uid is ``uid``; None when none is (or it is live)."""
    row = conn.execute(_stacks_query().where(stacks.c.uid == uid)).first()
    if row is None:
        row = conn.execute(_accounts_query().where(accounts.c.uid == uid)).first()
    return None if row is None else _row(row)


def kept_versions(conn: Connection, account_id: int, stack_id: int | None) -> list[KeptVersion]:
    """Every version row of a level's secrets, by key then version."""
    if stack_id is None:
        level = and_(secrets.c.account_id == account_id, secrets.c.stack_id.is_(None))
    else:
        level = secrets.c.stack_id == stack_id
    rows = conn.execute(
        select(
            secrets.c.key,
            secret_versions.c.version,
            secret_versions.c.action,
            secret_versions.c.author,
            secret_versions.c.created_at,
            secret_versions.c.destroyed_at,
        )
        .join(secrets, secrets.c.id == secret_versions.c.secret_id)
        .where(level)
        .order_by(secrets.c.key, secret_versions.c.version)
    )
    return [KeptVersion(*row) for row in rows]
