"""The Vault-compatible API's own rows: a level's KV metadata and its versions' KV flags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from stacksafe.store.schema import kv_paths, kv_versions, secret_versions, secrets
from stacksafe.store.secrets import VERSION_COLUMNS, StoredVersion, scope_clause, stored_version

__all__ = [
    "PathMetadata",
    "VersionFlags",
    "clear_path",
    "path_metadata",
    "save_path_metadata",
    "set_version_flags",
    "version_flags",
    "versions_as_of_write",
]


@dataclass(frozen=True, slots=True)
class PathMetadata:
    custom_metadata: str  # a JSON object
    cas_required: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class VersionFlags:
    deleted_at: datetime | None
    destroyed: bool


def _level(table: object, account_id: int, stack_id: int | None) -> ColumnElement[bool]:
    columns = kv_paths.c if table is kv_paths else kv_versions.c
    if stack_id is None:
        return and_(columns.account_id == account_id, columns.stack_id.is_(None))
    return columns.stack_id == stack_id


def path_metadata(conn: Connection, account_id: int, stack_id: int | None) -> PathMetadata | None:
    row = conn.execute(
        select(
            kv_paths.c.custom_metadata,
            kv_paths.c.cas_required,
            kv_paths.c.created_at,
            kv_paths.c.updated_at,
        ).where(_level(kv_paths, account_id, stack_id))
    ).first()
    return None if row is None else PathMetadata(row[0], bool(row[1]), row[2], row[3])


def save_path_metadata(
    conn: Connection,
    account_id: int,
    stack_id: int | None,
    custom_metadata: str,
    cas_required: bool,
    now: datetime,
) -> None:
    values = {"custom_metadata": custom_metadata, "cas_required": cas_required, "updated_at": now}
    changed = conn.execute(
        update(kv_paths).where(_level(kv_paths, account_id, stack_id)).values(**values)
    ).rowcount
    if not changed:
        conn.execute(
            insert(kv_paths).values(
                account_id=account_id, stack_id=stack_id, created_at=now, **values
            )
        )


def version_flags(
    conn: Connection, account_id: int, stack_id: int | None
) -> Mapping[int, VersionFlags]:
    """KV version number -> what the KV API said of it (soft delete, destroy)."""
    rows = conn.execute(
        select(kv_versions.c.version, kv_versions.c.deleted_at, kv_versions.c.destroyed).where(
            _level(kv_versions, account_id, stack_id)
        )
    ).all()
    return {int(v): VersionFlags(at, bool(destroyed)) for v, at, destroyed in rows}


def set_version_flags(
    conn: Connection, account_id: int, stack_id: int | None, version: int, flags: VersionFlags
) -> None:
    where = and_(_level(kv_versions, account_id, stack_id), kv_versions.c.version == version)
    values = {"deleted_at": flags.deleted_at, "destroyed": flags.destroyed}
    if not conn.execute(update(kv_versions).where(where).values(**values)).rowcount:
        conn.execute(
            insert(kv_versions).values(
                account_id=account_id, stack_id=stack_id, version=version, **values
            )
        )


def clear_path(conn: Connection, account_id: int, stack_id: int | None) -> None:
    """Forget a level's KV metadata and version flags (``DELETE metadata/<path>``)."""
    conn.execute(delete(kv_paths).where(_level(kv_paths, account_id, stack_id)))
    conn.execute(delete(kv_versions).where(_level(kv_versions, account_id, stack_id)))


def versions_as_of_write(
    conn: Connection, account_id: int, stack_id: int | None, write_id: int
) -> list[tuple[str, str | None, StoredVersion]]:
    """At one level, each key's newest version made by level write ``write_id`` or an earlier
    one: (key, environments, version). Versions older than the level writes (NULL) count as
    earlier than any."""
    stamped = func.coalesce(secret_versions.c.level_write_id, 0)
    newest = (
        select(
            secret_versions.c.secret_id,
            func.max(secret_versions.c.version).label("version"),
        )
        .join(secrets, secrets.c.id == secret_versions.c.secret_id)
        .where(scope_clause(account_id, stack_id), stamped <= write_id)
        .group_by(secret_versions.c.secret_id)
        .subquery()
    )
    query = (
        select(secrets.c.key, secrets.c.environments, *VERSION_COLUMNS)
        .join(secret_versions, secret_versions.c.secret_id == secrets.c.id)
        .join(
            newest,
            and_(
                newest.c.secret_id == secret_versions.c.secret_id,
                newest.c.version == secret_versions.c.version,
            ),
        )
        .order_by(secrets.c.key)
    )
    return [(row[0], row[1], stored_version(row[2:], row[0])) for row in conn.execute(query).all()]
