"""The Vault-compatible API's own rows: a level's KV metadata and its versions' KV flags."""

from __future__ import annotations

import secrets as random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from stacksafe.store.schema import (
    accounts,
    kv_paths,
    kv_versions,
    secret_versions,
    secrets,
    stacks,
)
from stacksafe.store.secrets import VERSION_COLUMNS, StoredVersion, scope_clause, stored_version

__all__ = [
    "PathMetadata",
    "VersionFlags",
    "clear_flags",
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
    forgotten_through: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class VersionFlags:
    deleted_at: datetime | None
    destroyed: bool
    emptied: bool = False


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
            kv_paths.c.forgotten_through,
            kv_paths.c.created_at,
            kv_paths.c.updated_at,
        ).where(_level(kv_paths, account_id, stack_id))
    ).first()
    if row is None:
        return None
    return PathMetadata(row[0], bool(row[1]), int(row[2]), row[3], row[4])


def save_path_metadata(
    conn: Connection,
    account_id: int,
    stack_id: int | None,
    custom_metadata: str,
    cas_required: bool,
    now: datetime,
    forgotten_through: int | None = None,
) -> None:
    """Insert or update the level's KV metadata (``forgotten_through`` None: as it was)."""
    values: dict[str, object] = {
        "custom_metadata": custom_metadata,
        "cas_required": cas_required,
        "updated_at": now,
    }
    if forgotten_through is not None:
        values["forgotten_through"] = forgotten_through
    changed = conn.execute(
        update(kv_paths).where(_level(kv_paths, account_id, stack_id)).values(**values)
    ).rowcount
    # What a KV read of the path shows changed (its custom_metadata): readers key what they
    # keep by the level's revision (core.read_cache, api.pages), so it changes too.
    revision = random.token_hex(8)
    if stack_id is None:
        conn.execute(
            update(accounts).where(accounts.c.id == account_id).values(secrets_revision=revision)
        )
    else:
        conn.execute(
            update(stacks).where(stacks.c.id == stack_id).values(secrets_revision=revision)
        )
    if not changed:
        conn.execute(
            insert(kv_paths).values(
                {
                    "forgotten_through": 0,
                    **values,
                    "account_id": account_id,
                    "stack_id": stack_id,
                    "created_at": now,
                }
            )
        )


def version_flags(
    conn: Connection, account_id: int, stack_id: int | None
) -> Mapping[int, VersionFlags]:
    """KV version number -> what the KV API said of it (soft delete, destroy)."""
    rows = conn.execute(
        select(
            kv_versions.c.version,
            kv_versions.c.deleted_at,
            kv_versions.c.destroyed,
            kv_versions.c.emptied,
        ).where(_level(kv_versions, account_id, stack_id))
    ).all()
    return {int(v): VersionFlags(at, bool(gone), bool(emptied)) for v, at, gone, emptied in rows}


def set_version_flags(
    conn: Connection, account_id: int, stack_id: int | None, version: int, flags: VersionFlags
) -> None:
    where = and_(_level(kv_versions, account_id, stack_id), kv_versions.c.version == version)
    values = {
        "deleted_at": flags.deleted_at,
        "destroyed": flags.destroyed,
        "emptied": flags.emptied,
    }
    if not conn.execute(update(kv_versions).where(where).values(**values)).rowcount:
        conn.execute(
            insert(kv_versions).values(
                account_id=account_id, stack_id=stack_id, version=version, **values
            )
        )


def clear_flags(conn: Connection, account_id: int, stack_id: int | None) -> None:
    """Forget the level's version flags (``DELETE metadata/<path>``)."""
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
