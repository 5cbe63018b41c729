"""Queries for secrets and their immutable versions.

A write adds a version row and moves the secret's ``current_version`` pointer with a
compare-and-set on the old version, so two writers can never both win, and a version number is
never used twice (unique ``(secret_id, version)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Connection,
    Select,
    and_,
    bindparam,
    case,
    func,
    insert,
    null,
    or_,
    select,
    union_all,
    update,
)

from stacksafe.errors import IntegrityError
from stacksafe.store.driver import DriverStatement, after
from stacksafe.store.revisions import secrets_revision, send_secrets_revision
from stacksafe.store.schema import secret_versions, secrets
from stacksafe.store.transactions import RetryWrite

__all__ = [
    "SecretHead",
    "StoredSecret",
    "StoredVersion",
    "advance_secret",
    "destroy_version",
    "effective_secrets",
    "insert_secret",
    "insert_version",
    "prune_versions",
    "scope_heads",
    "scope_secrets",
    "secret_head",
    "secrets_revision",
    "send_secret_head",
    "send_secrets_revision",
    "stacks_secrets",
    "stored_envelope",
    "versions_as_of",
    "versions_of",
]


class StoredSecret(NamedTuple):
    """A live secret's current version as stored: ciphertext only.

    A named tuple, not a dataclass: a reveal builds hundreds per request, straight from the
    row's tuple.
    """

    key: str
    stack_id: int | None
    version: int
    envelope: bytes
    created_at: datetime
    updated_at: datetime
    environments: str | None  # account level: the environments that inherit it (None: all)


@dataclass(frozen=True, slots=True)
class SecretHead:
    """The mutable pointer row of a secret (live or deleted)."""

    id: int
    current_version: int
    deleted: bool
    created_at: datetime


def scope_clause(
    account_id: int | BindParameter[int], stack_id: int | BindParameter[int] | None
) -> ColumnElement[bool]:
    if stack_id is None:
        return and_(secrets.c.account_id == account_id, secrets.c.stack_id.is_(None))
    return secrets.c.stack_id == stack_id


def _live_query(scope: ColumnElement[bool]) -> Select[Any]:
    """The live secrets of ``scope`` with their current envelopes, and every pointer row that
    does not agree with its version row, for ``_stored`` to report: a live pointer whose
    version row is missing (outer join) or holds no value gives envelope NULL, and so does a
    pointer marked deleted whose current version holds a value (a deletion edited in by SQL
    would otherwise let a stack's override give way to the inherited value, unnoticed).
    Consistent deletions (flag and tombstone) are left out, as before."""
    live = secrets.c.deleted.is_(False)
    return (
        select(
            secrets.c.key,
            secrets.c.stack_id,
            secrets.c.current_version.label("version"),
            case((live, secret_versions.c.envelope), else_=null()).label("envelope"),
            secrets.c.created_at,
            secrets.c.updated_at,
            secrets.c.environments,
        )
        .outerjoin(
            secret_versions,
            and_(
                secret_versions.c.secret_id == secrets.c.id,
                secret_versions.c.version == secrets.c.current_version,
            ),
        )
        .where(scope, or_(live, secret_versions.c.envelope.is_not(None)))
    )


def _stored(rows: Iterable[Any]) -> list[StoredSecret]:
    # Positional unpacking: a Row's attribute access by name costs more than the tuple itself.
    # Callers pass ``.all()`` (one fetchall), not the result: iterating it fetches row by row.
    # The drivers give a BLOB as bytes; anything else (NULL, TEXT, a number) is damage, checked
    # by type only so the happy path pays no call.
    return [
        StoredSecret(
            key,
            stack_id,
            version,
            envelope if envelope.__class__ is bytes else stored_envelope(envelope, key, version),
            created_at,
            updated_at,
            environments,
        )
        for key, stack_id, version, envelope, created_at, updated_at, environments in rows
    ]


def stored_envelope(envelope: object, key: str | None, version: int) -> bytes:
    """``envelope`` as read from a live version's row, which must be binary; else the
    integrity error naming the key (when known) and version, never the stored content."""
    if isinstance(envelope, bytes | bytearray | memoryview):
        return bytes(envelope)
    what = f"the stored value of {key!r} (version {version})" if key else f"version {version}"
    if envelope is None:
        raise IntegrityError(
            f"{what} is missing: its version row is gone, empty, or disagrees with the "
            "secret's pointer (damaged or edited in the database)"
        )
    raise IntegrityError(
        f"{what} is not binary data ({type(envelope).__name__}): damaged or edited in the database"
    )


# The statements are built once, with bound parameters, so SQLAlchemy's compiled cache finds them
# without rebuilding and re-keying the union on every read.
_ACCOUNT_ID: BindParameter[int] = bindparam("account_id")
_STACK_ID: BindParameter[int] = bindparam("stack_id")
_KEY: BindParameter[str] = bindparam("key")


@cache
def _scope_query(stack_level: bool, by_key: bool) -> Select[Any]:
    query = _live_query(scope_clause(_ACCOUNT_ID, _STACK_ID if stack_level else None))
    if by_key:
        query = query.where(secrets.c.key == _KEY)
    return query.order_by(secrets.c.key)


@cache
def _effective_query(by_key: bool) -> CompoundSelect[Any]:
    own = _live_query(scope_clause(_ACCOUNT_ID, _STACK_ID))
    inherited = _live_query(scope_clause(_ACCOUNT_ID, None))
    if by_key:
        own = own.where(secrets.c.key == _KEY)
        inherited = inherited.where(secrets.c.key == _KEY)
    return union_all(own, inherited)


def scope_secrets(
    conn: Connection, account_id: int, stack_id: int | None, key: str | None = None
) -> list[StoredSecret]:
    """The live secrets of one level (an account's own, or a stack's own)."""
    query = _scope_query(stack_id is not None, key is not None)
    params: dict[str, object] = {"account_id": account_id}
    if stack_id is not None:
        params["stack_id"] = stack_id
    if key is not None:
        params["key"] = key
    return _stored(conn.execute(query, params).all())


def stacks_secrets(conn: Connection, account_id: int) -> list[StoredSecret]:
    """The live secrets of every stack of an account (not the account's own), in one query."""
    scope = and_(secrets.c.account_id == account_id, secrets.c.stack_id.is_not(None))
    query = _live_query(scope).order_by(secrets.c.stack_id, secrets.c.key)
    return _stored(conn.execute(query).all())


def effective_secrets(
    conn: Connection, account_id: int, stack_id: int, key: str | None = None
) -> Sequence[StoredSecret]:
    """The stack's own secrets and its account's, in one indexed query; the caller overlays them.

    Each branch reads through its own partial unique index, so the cost follows the stack and
    its account, not the size of the database.
    """
    query = _effective_query(key is not None)
    params: dict[str, object] = {"account_id": account_id, "stack_id": stack_id}
    if key is not None:
        params["key"] = key
    return _stored(conn.execute(query, params).all())


@cache
def _head_query(stack_level: bool, lock: bool) -> DriverStatement:
    """A key's head (through the driver: every write of a secret reads it)."""
    query = select(
        secrets.c.id, secrets.c.current_version, secrets.c.deleted, secrets.c.created_at
    ).where(scope_clause(_ACCOUNT_ID, _STACK_ID if stack_level else None), secrets.c.key == _KEY)
    return DriverStatement(query.with_for_update() if lock else query)


def secret_head(
    conn: Connection, account_id: int, stack_id: int | None, key: str, *, lock: bool = False
) -> SecretHead | None:
    return send_secret_head(conn, account_id, stack_id, key, lock=lock)()


def send_secret_head(
    conn: Connection, account_id: int, stack_id: int | None, key: str, *, lock: bool = False
) -> Callable[[], SecretHead | None]:
    """``secret_head``'s statement sent now (it may go in a batch: store.driver), its row
    read when called."""
    params: dict[str, object] = {"account_id": account_id, "key": key}
    if stack_id is not None:
        params["stack_id"] = stack_id
    pending = _head_query(stack_id is not None, lock).send(conn, params)

    def head() -> SecretHead | None:
        row = pending.first()
        return (
            None
            if row is None
            else SecretHead(row.id, row.current_version, row.deleted, row.created_at)
        )

    return head


# Built once: an import runs these once per secret, and building the statement (and its cache
# key) cost more than executing it (bench/README.md, scale.py).
_INSERT_SECRET = DriverStatement(
    insert(secrets).returning(secrets.c.id),
    ["account_id", "stack_id", "key", "current_version", "deleted", "created_at", "updated_at"],
)
_VERSION_COLUMNS = [
    "secret_id",
    "version",
    "action",
    "envelope",
    "author",
    "created_at",
    "level_write_id",
]
_INSERT_VERSION = DriverStatement(insert(secret_versions), _VERSION_COLUMNS)
_ADVANCE_SECRET = DriverStatement(
    update(secrets)
    .where(secrets.c.id == bindparam("head_id"), secrets.c.current_version == bindparam("head"))
    .values(
        current_version=bindparam("next_version"),
        deleted=bindparam("now_deleted"),
        created_at=bindparam("created"),
        updated_at=bindparam("updated"),
    )
)


def insert_secret(
    conn: Connection, account_id: int, stack_id: int | None, key: str, now: datetime
) -> int:
    """A new secret at version 1 (its version row is inserted by the caller). Through the
    driver, so that it may be sent in a batch (store.driver), whose answers it then waits for."""
    row = _INSERT_SECRET.first(
        conn,
        {
            "account_id": account_id,
            "stack_id": stack_id,
            "key": key,
            "current_version": 1,
            "deleted": False,
            "created_at": now,
            "updated_at": now,
        },
    )
    assert row is not None  # noqa: S101 - an INSERT ... RETURNING
    return int(row[0])


def insert_version(
    conn: Connection,
    secret_id: int,
    version: int,
    action: str,
    envelope: bytes | None,
    author: str,
    now: datetime,
    level_write_id: int,
) -> None:
    """A version row, stamped with its transaction's write of the level (store.level_writes)."""
    _INSERT_VERSION.execute(
        conn,
        {
            "secret_id": secret_id,
            "version": version,
            "action": action,
            "envelope": envelope,
            "author": author,
            "created_at": now,
            "level_write_id": level_write_id,
        },
    )


def advance_secret(
    conn: Connection,
    head: SecretHead,
    *,
    deleted: bool,
    created_at: datetime,
    now: datetime,
) -> None:
    """Point the secret at ``head.current_version + 1``; ``RetryWrite`` if somebody else moved
    it first (once the batch open is back, when one is: store.driver.after)."""
    given = {
        "head_id": head.id,
        "head": head.current_version,
        "next_version": head.current_version + 1,
        "now_deleted": deleted,
        "created": created_at,
        "updated": now,
    }
    pending = _ADVANCE_SECRET.send(conn, given)

    def moved() -> None:
        if pending.rowcount() != 1:
            raise RetryWrite

    after(conn, moved)


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One version row: a value (``envelope``), a deletion (no envelope, never destroyed), or a
    value whose ciphertext was destroyed (``destroyed_at`` set)."""

    version: int
    action: str
    envelope: bytes | None
    author: str
    created_at: datetime
    destroyed_at: datetime | None

    @property
    def is_deletion(self) -> bool:
        return self.envelope is None and self.destroyed_at is None


def stored_version(row: Any, key: str | None = None) -> StoredVersion:
    version, action, envelope, author, created_at, destroyed_at = row
    return StoredVersion(
        version,
        action,
        None if envelope is None else stored_envelope(envelope, key, version),
        author,
        created_at,
        destroyed_at,
    )


VERSION_COLUMNS = (
    secret_versions.c.version,
    secret_versions.c.action,
    secret_versions.c.envelope,
    secret_versions.c.author,
    secret_versions.c.created_at,
    secret_versions.c.destroyed_at,
)


def versions_of(conn: Connection, secret_id: int, key: str | None = None) -> list[StoredVersion]:
    """Every version of a secret (``key``: its name, for errors), oldest first."""
    query = (
        select(*VERSION_COLUMNS)
        .where(secret_versions.c.secret_id == secret_id)
        .order_by(secret_versions.c.version)
    )
    return [stored_version(row, key) for row in conn.execute(query).all()]


def scope_heads(
    conn: Connection, account_id: int, stack_id: int | None, keys: Sequence[str] | None = None
) -> list[tuple[str, SecretHead]]:
    """(key, head) of every secret at one level (or of its ``keys``), deleted ones included, by
    key."""
    query = (
        select(
            secrets.c.key,
            secrets.c.id,
            secrets.c.current_version,
            secrets.c.deleted,
            secrets.c.created_at,
        )
        .where(scope_clause(account_id, stack_id))
        .order_by(secrets.c.key)
    )
    if keys is not None:
        query = query.where(secrets.c.key.in_(keys))
    return [
        (key, SecretHead(secret_id, current, deleted, created_at))
        for key, secret_id, current, deleted, created_at in conn.execute(query).all()
    ]


def versions_as_of(
    conn: Connection, account_id: int, stack_id: int | None, moment: datetime
) -> dict[int, StoredVersion]:
    """By secret id, at one level: the newest version written at or before ``moment``."""
    newest = (
        select(
            secret_versions.c.secret_id,
            func.max(secret_versions.c.version).label("version"),
        )
        .join(secrets, secrets.c.id == secret_versions.c.secret_id)
        .where(scope_clause(account_id, stack_id), secret_versions.c.created_at <= moment)
        .group_by(secret_versions.c.secret_id)
        .subquery()
    )
    query = select(secret_versions.c.secret_id, *VERSION_COLUMNS).join(
        newest,
        and_(
            newest.c.secret_id == secret_versions.c.secret_id,
            newest.c.version == secret_versions.c.version,
        ),
    )
    return {row[0]: stored_version(row[1:]) for row in conn.execute(query).all()}


def destroy_version(conn: Connection, secret_id: int, version: int, now: datetime) -> bool:
    """Remove a version's ciphertext for good; False if it had none (a deletion, or destroyed)."""
    result = conn.execute(
        update(secret_versions)
        .where(
            secret_versions.c.secret_id == secret_id,
            secret_versions.c.version == version,
            secret_versions.c.envelope.is_not(None),
        )
        .values(envelope=None, destroyed_at=now)
    )
    return result.rowcount == 1


def prune_versions(conn: Connection, secret_id: int, below: int, now: datetime) -> list[int]:
    """Destroy the ciphertexts of versions numbered below ``below``; the versions pruned."""
    # The same condition in both statements, not a list of versions: a secret may have more
    # versions than a statement may have parameters (65,535 on PostgreSQL).
    prunable = (
        secret_versions.c.secret_id == secret_id,
        secret_versions.c.version < below,
        secret_versions.c.envelope.is_not(None),
    )
    pruned = sorted(conn.execute(select(secret_versions.c.version).where(*prunable)).scalars())
    if pruned:
        conn.execute(
            update(secret_versions).where(*prunable).values(envelope=None, destroyed_at=now)
        )
    return pruned
