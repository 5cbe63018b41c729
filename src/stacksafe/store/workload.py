"""Queries for workload logins: JWT issuers, roles, and the token ids replay-refusing roles saw."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from stacksafe.store.identity_tables import jwt_issuers, jwt_roles, jwt_seen

__all__ = [
    "ClaimBinding",
    "StoredIssuer",
    "StoredRole",
    "delete_issuer",
    "delete_role",
    "insert_issuer",
    "insert_role",
    "issuer_by_name",
    "issuer_of_id",
    "list_issuers",
    "list_roles",
    "role_by_name",
    "role_for_update",
    "roles_of_issuer",
    "see_token_id",
    "set_issuer_keys",
]


@dataclass(frozen=True, slots=True)
class StoredIssuer:
    id: int
    name: str
    issuer: str
    keys_from: str  # discovery, jwks_url or file
    keys_url: str | None
    jwks: str
    audiences: tuple[str, ...] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimBinding:
    """A claim a role needs: equal to one of ``values``, or (``glob``) matching one."""

    claim: str
    glob: bool
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoredRole:
    id: int
    name: str
    issuer_id: int
    user_id: int
    account_id: int
    role: str
    audiences: tuple[str, ...]
    claims: tuple[ClaimBinding, ...]
    stack_uids: tuple[str, ...] | None
    environments: tuple[str, ...] | None
    scopes: tuple[str, ...]
    ttl_seconds: int
    max_ttl_seconds: int
    refuse_replay: bool
    created_at: datetime


def _words(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(text.split())


def _joined(words: tuple[str, ...] | None) -> str | None:
    return None if words is None else " ".join(words)


def _issuer(row: Row[Any]) -> StoredIssuer:
    return StoredIssuer(
        row.id,
        row.name,
        row.issuer,
        row.keys_from,
        row.keys_url,
        row.jwks,
        _words(row.audiences),
        row.created_at,
        row.updated_at,
    )


def _role(row: Row[Any]) -> StoredRole:
    claims = tuple(
        ClaimBinding(claim, kind == "glob", tuple(values))
        for claim, kind, values in json.loads(row.claims)
    )
    return StoredRole(
        row.id,
        row.name,
        row.issuer_id,
        row.user_id,
        row.account_id,
        row.role,
        tuple(row.audiences.split()),
        claims,
        _words(row.stack_uids),
        _words(row.environments),
        tuple(row.scopes.split()),
        row.ttl_seconds,
        row.max_ttl_seconds,
        row.refuse_replay,
        row.created_at,
    )


def insert_issuer(
    conn: Connection,
    *,
    name: str,
    issuer: str,
    keys_from: str,
    keys_url: str | None,
    jwks: str,
    audiences: tuple[str, ...] | None,
    now: datetime,
) -> StoredIssuer:
    conn.execute(
        insert(jwt_issuers).values(
            name=name,
            issuer=issuer,
            keys_from=keys_from,
            keys_url=keys_url,
            jwks=jwks,
            audiences=_joined(audiences),
            created_at=now,
            updated_at=now,
        )
    )
    return _issuer(conn.execute(select(jwt_issuers).where(jwt_issuers.c.name == name)).one())


def set_issuer_keys(conn: Connection, issuer_id: int, jwks: str, now: datetime) -> None:
    conn.execute(
        update(jwt_issuers).where(jwt_issuers.c.id == issuer_id).values(jwks=jwks, updated_at=now)
    )


def issuer_by_name(conn: Connection, name: str) -> StoredIssuer | None:
    row = conn.execute(select(jwt_issuers).where(jwt_issuers.c.name == name)).first()
    return None if row is None else _issuer(row)


def issuer_of_id(conn: Connection, issuer_id: int) -> StoredIssuer:
    return _issuer(conn.execute(select(jwt_issuers).where(jwt_issuers.c.id == issuer_id)).one())


def list_issuers(conn: Connection) -> list[StoredIssuer]:
    return [_issuer(r) for r in conn.execute(select(jwt_issuers).order_by(jwt_issuers.c.name))]


def delete_issuer(conn: Connection, issuer_id: int) -> None:
    conn.execute(delete(jwt_seen).where(jwt_seen.c.issuer_id == issuer_id))
    conn.execute(delete(jwt_issuers).where(jwt_issuers.c.id == issuer_id))


def insert_role(
    conn: Connection,
    *,
    name: str,
    issuer_id: int,
    user_id: int,
    account_id: int,
    role: str,
    audiences: tuple[str, ...],
    claims: tuple[ClaimBinding, ...],
    stack_uids: tuple[str, ...] | None,
    environments: tuple[str, ...] | None,
    scopes: tuple[str, ...],
    ttl_seconds: int,
    max_ttl_seconds: int,
    refuse_replay: bool,
    now: datetime,
) -> StoredRole:
    conn.execute(
        insert(jwt_roles).values(
            name=name,
            issuer_id=issuer_id,
            user_id=user_id,
            account_id=account_id,
            role=role,
            audiences=" ".join(audiences),
            claims=json.dumps(
                [[c.claim, "glob" if c.glob else "exact", list(c.values)] for c in claims]
            ),
            stack_uids=_joined(stack_uids),
            environments=_joined(environments),
            scopes=" ".join(scopes),
            ttl_seconds=ttl_seconds,
            max_ttl_seconds=max_ttl_seconds,
            refuse_replay=refuse_replay,
            created_at=now,
        )
    )
    return _role(conn.execute(select(jwt_roles).where(jwt_roles.c.name == name)).one())


def role_by_name(conn: Connection, name: str) -> StoredRole | None:
    row = conn.execute(select(jwt_roles).where(jwt_roles.c.name == name)).first()
    return None if row is None else _role(row)


def role_for_update(conn: Connection, role_id: int) -> StoredRole | None:
    """The role, its row locked until the transaction ends (PostgreSQL; SQLite's write
    transaction holds the whole database)."""
    row = conn.execute(select(jwt_roles).where(jwt_roles.c.id == role_id).with_for_update()).first()
    return None if row is None else _role(row)


def list_roles(conn: Connection) -> list[StoredRole]:
    return [_role(r) for r in conn.execute(select(jwt_roles).order_by(jwt_roles.c.name))]


def roles_of_issuer(conn: Connection, issuer_id: int) -> list[StoredRole]:
    rows = conn.execute(select(jwt_roles).where(jwt_roles.c.issuer_id == issuer_id))
    return [_role(r) for r in rows]


def delete_role(conn: Connection, role_id: int) -> None:
    conn.execute(delete(jwt_roles).where(jwt_roles.c.id == role_id))


def see_token_id(
    conn: Connection, issuer_id: int, jti: str, expires_at: datetime, now: datetime
) -> bool:
    """Note that ``jti`` was used; False when it already was (and has not expired). Drops the
    expired ones first: the table holds only tokens that could still be replayed."""
    conn.execute(delete(jwt_seen).where(jwt_seen.c.expires_at <= now))
    seen = conn.execute(
        select(jwt_seen.c.jti).where(jwt_seen.c.issuer_id == issuer_id, jwt_seen.c.jti == jti)
    ).first()
    if seen is not None:
        return False
    # Two logins with one jti at once: one insert violates the key, and Store.transact runs
    # that transaction again, which then finds the row.
    conn.execute(insert(jwt_seen).values(issuer_id=issuer_id, jti=jti, expires_at=expires_at))
    return True
