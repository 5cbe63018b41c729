"""Queries for users, their account and stack roles, and API tokens (stored as keyed hashes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Table,
    and_,
    bindparam,
    delete,
    insert,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import NoResultFound

from stacksafe.store.driver import DriverStatement
from stacksafe.store.nowait import NoWaitReader
from stacksafe.store.schema import (
    memberships,
    principals_revision,
    stack_roles,
    stacks,
    tokens,
    users,
)

__all__ = [
    "StoredRoles",
    "StoredToken",
    "StoredUser",
    "account_roles",
    "delete_account_role",
    "delete_roles_of",
    "delete_stack_role",
    "delete_stack_roles_in",
    "holder_of",
    "insert_token",
    "insert_user",
    "list_tokens",
    "list_users",
    "mark_removed",
    "nowait_principals_revision",
    "principals_revision_of",
    "reinstate_user",
    "revoke_token",
    "revoke_tokens_of",
    "roles_of",
    "set_account_role",
    "set_password_hash",
    "set_stack_role",
    "stack_roles_of",
    "token_and_user_by_hash",
    "token_by_hash",
    "user_by_email",
    "user_by_id",
    "user_with_password",
]


@dataclass(frozen=True, slots=True)
class StoredUser:
    id: int
    email: str
    is_owner: bool
    created_at: datetime
    # Set: the user was removed (offboarded); they authenticate nothing (revision 0015).
    removed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredToken:
    id: int
    uid: str
    user_id: int
    token_hash: bytes
    scopes: tuple[str, ...]
    stack_uids: tuple[str, ...] | None
    environments: tuple[str, ...] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    actor: str | None = None  # the name its audit events carry instead of its user's


def _user(row: Row[Any]) -> StoredUser:
    return StoredUser(row.id, row.email, row.is_owner, row.created_at, row.removed_at)


def _split(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(text.split())


def _token(row: Row[Any]) -> StoredToken:
    return StoredToken(
        row.id,
        row.uid,
        row.user_id,
        bytes(row.token_hash),
        tuple(row.scopes.split()),
        _split(row.stack_uids),
        _split(row.environments),
        row.created_at,
        row.expires_at,
        row.revoked_at,
        row.actor,
    )


def insert_user(conn: Connection, email: str, is_owner: bool, now: datetime) -> StoredUser:
    new_id: int = conn.execute(
        insert(users)
        .values(email=email, is_owner=is_owner, created_at=now, updated_at=now)
        .returning(users.c.id)
    ).scalar_one()
    return StoredUser(new_id, email, is_owner, now)


def user_by_email(conn: Connection, email: str) -> StoredUser | None:
    row = conn.execute(select(users).where(users.c.email == email)).first()
    return None if row is None else _user(row)


def user_by_id(conn: Connection, user_id: int) -> StoredUser | None:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return None if row is None else _user(row)


def list_users(conn: Connection) -> list[StoredUser]:
    return [_user(r) for r in conn.execute(select(users).order_by(users.c.email))]


def set_account_role(conn: Connection, user_id: int, account_id: int, role: str) -> None:
    conn.execute(
        delete(memberships).where(
            memberships.c.user_id == user_id, memberships.c.account_id == account_id
        )
    )
    conn.execute(insert(memberships).values(user_id=user_id, account_id=account_id, role=role))


def set_stack_role(conn: Connection, user_id: int, stack_id: int, role: str) -> None:
    conn.execute(
        delete(stack_roles).where(
            stack_roles.c.user_id == user_id, stack_roles.c.stack_id == stack_id
        )
    )
    conn.execute(insert(stack_roles).values(user_id=user_id, stack_id=stack_id, role=role))


def account_roles(conn: Connection, user_id: int) -> dict[int, str]:
    rows = conn.execute(
        select(memberships.c.account_id, memberships.c.role).where(memberships.c.user_id == user_id)
    )
    return {row.account_id: row.role for row in rows}


def stack_roles_of(conn: Connection, user_id: int) -> dict[int, str]:
    rows = conn.execute(
        select(stack_roles.c.stack_id, stack_roles.c.role).where(stack_roles.c.user_id == user_id)
    )
    return {row.stack_id: row.role for row in rows}


def insert_token(
    conn: Connection,
    *,
    uid: str,
    user_id: int,
    token_hash: bytes,
    scopes: tuple[str, ...],
    stack_uids: tuple[str, ...] | None,
    environments: tuple[str, ...] | None,
    now: datetime,
    expires_at: datetime | None,
    actor: str | None = None,
) -> None:
    conn.execute(
        insert(tokens).values(
            uid=uid,
            user_id=user_id,
            token_hash=token_hash,
            scopes=" ".join(scopes),
            stack_uids=None if stack_uids is None else " ".join(stack_uids),
            environments=None if environments is None else " ".join(environments),
            created_at=now,
            expires_at=expires_at,
            revoked_at=None,
            actor=actor,
        )
    )


# Built once: every API request authenticates its token with these two.
_TOKEN_AND_USER = (
    select(*tokens.c, *(c.label(f"holder_{c.name}") for c in users.c))
    .join(users, users.c.id == tokens.c.user_id)
    .where(tokens.c.token_hash == bindparam("token_hash"))
)
_ROLES = union_all(
    select(
        memberships.c.account_id, memberships.c.role, literal_column("NULL").label("stack_id")
    ).where(memberships.c.user_id == bindparam("user_id")),
    select(stacks.c.account_id, stack_roles.c.role, stack_roles.c.stack_id)
    .join(stacks, stacks.c.id == stack_roles.c.stack_id)
    .where(stack_roles.c.user_id == bindparam("user_id")),
)


def token_by_hash(conn: Connection, token_hash: bytes) -> StoredToken | None:
    row = conn.execute(select(tokens).where(tokens.c.token_hash == token_hash)).first()
    return None if row is None else _token(row)


_REVISION_QUERY = select(principals_revision.c.revision).where(principals_revision.c.id == 1)
# Through the driver (store.driver): every request with a token reads it.
_REVISION = DriverStatement(_REVISION_QUERY)


def principals_revision_of(conn: Connection) -> str:
    """The revision triggers replace on every change to users, tokens and roles (0008)."""
    row = _REVISION.first(conn, {})
    if row is None:  # as scalar_one() said it: the row migration 0008 adds is gone
        raise NoResultFound("no principals revision row")
    return str(row[0])


def nowait_principals_revision(reader: NoWaitReader) -> str | None:
    """``principals_revision_of`` through a never-waiting reader (store.nowait); None when it
    could not be read at once."""
    row = reader.first(_REVISION_QUERY, {})
    return None if row is None else str(row[0])


def token_and_user_by_hash(
    conn: Connection, token_hash: bytes
) -> tuple[StoredToken, StoredUser] | None:
    """A token and its user, in one query."""
    row = conn.execute(_TOKEN_AND_USER, {"token_hash": token_hash}).first()
    if row is None:
        return None
    return _token(row), holder_of(row)


def holder_of(row: Row[Any]) -> StoredUser:
    """The user of a row joined with ``users`` under ``holder_`` labels (a token's, a
    session's)."""
    return StoredUser(
        row.holder_id,
        row.holder_email,
        row.holder_is_owner,
        row.holder_created_at,
        row.holder_removed_at,
    )


@dataclass(frozen=True, slots=True)
class StoredRoles:
    """A user's roles: by account, by stack, and each of those stacks' account."""

    accounts: dict[int, str]
    stacks: dict[int, str]
    stack_accounts: dict[int, int]


def roles_of(conn: Connection, user_id: int) -> StoredRoles:
    """Every role of a user, in one query."""
    roles = StoredRoles({}, {}, {})
    for account_id, role, stack_id in conn.execute(_ROLES, {"user_id": user_id}):
        if stack_id is None:
            roles.accounts[account_id] = role
        else:
            roles.stacks[stack_id] = role
            roles.stack_accounts[stack_id] = account_id
    return roles


def list_tokens(conn: Connection, user_id: int | None = None) -> list[StoredToken]:
    query = select(tokens).order_by(tokens.c.id)
    if user_id is not None:
        query = query.where(tokens.c.user_id == user_id)
    return [_token(r) for r in conn.execute(query)]


def revoke_token(conn: Connection, uid: str, now: datetime) -> bool:
    result = conn.execute(
        update(tokens)
        .where(tokens.c.uid == uid, tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


def revoke_tokens_of(conn: Connection, user_id: int, now: datetime) -> list[str]:
    """Revoke every token of a user that is not revoked yet; their uids."""
    uids = list(
        conn.execute(
            select(tokens.c.uid).where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
        ).scalars()
    )
    if uids:
        conn.execute(update(tokens).where(tokens.c.uid.in_(uids)).values(revoked_at=now))
    return uids


def set_password_hash(conn: Connection, user_id: int, password_hash: str, now: datetime) -> None:
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(password_hash=password_hash, updated_at=now)
    )


def user_with_password(conn: Connection, email: str) -> tuple[StoredUser, str | None] | None:
    """A user and their password hash (None: no password set), by email."""
    row = conn.execute(select(users).where(users.c.email == email)).first()
    return None if row is None else (_user(row), row.password_hash)


def delete_roles_of(conn: Connection, user_id: int) -> tuple[list[int], list[int]]:
    """Delete every account membership and stack role of a user; the account ids and the
    stack ids they were in."""
    accounts = sorted(account_roles(conn, user_id))
    stacks_held = sorted(stack_roles_of(conn, user_id))
    conn.execute(delete(memberships).where(memberships.c.user_id == user_id))
    conn.execute(delete(stack_roles).where(stack_roles.c.user_id == user_id))
    return accounts, stacks_held


def _delete_role(conn: Connection, table: Table, where: ColumnElement[bool]) -> str | None:
    """Delete the one role row ``where`` names; the role it gave (None: there was none)."""
    role: str | None = conn.execute(select(table.c.role).where(where)).scalar_one_or_none()
    if role is not None:
        conn.execute(delete(table).where(where))
    return role


def delete_account_role(conn: Connection, user_id: int, account_id: int) -> str | None:
    """Delete a user's membership of an account; the role it gave (None: there was none)."""
    return _delete_role(
        conn,
        memberships,
        and_(memberships.c.user_id == user_id, memberships.c.account_id == account_id),
    )


def delete_stack_role(conn: Connection, user_id: int, stack_id: int) -> str | None:
    """Delete a user's role in one stack; the role (None: there was none)."""
    return _delete_role(
        conn,
        stack_roles,
        and_(stack_roles.c.user_id == user_id, stack_roles.c.stack_id == stack_id),
    )


def delete_stack_roles_in(conn: Connection, user_id: int, account_id: int) -> dict[int, str]:
    """Delete a user's roles in every stack of an account; the stack ids and roles deleted."""
    in_account = select(stacks.c.id).where(stacks.c.account_id == account_id)
    held = {
        row.stack_id: row.role
        for row in conn.execute(
            select(stack_roles.c.stack_id, stack_roles.c.role).where(
                stack_roles.c.user_id == user_id, stack_roles.c.stack_id.in_(in_account)
            )
        )
    }
    if held:
        conn.execute(
            delete(stack_roles).where(
                stack_roles.c.user_id == user_id, stack_roles.c.stack_id.in_(in_account)
            )
        )
    return held


def mark_removed(conn: Connection, user_id: int, now: datetime) -> None:
    """Mark a user removed; their password goes with it (re-adding them does not restore it)."""
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(removed_at=now, password_hash=None, updated_at=now)
    )


def reinstate_user(conn: Connection, user_id: int, now: datetime) -> None:
    """A removed user given a role again: the same row, no longer marked removed."""
    conn.execute(update(users).where(users.c.id == user_id).values(removed_at=None, updated_at=now))
