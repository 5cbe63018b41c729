"""Queries for the environments an account-level secret is restricted to (its ``environments``
column): which stacks of the account inherit it."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from stacksafe.store.schema import secrets
from stacksafe.store.secrets import scope_clause

__all__ = [
    "account_environments",
    "account_restrictions",
    "secret_environments",
    "set_environments",
]


def secret_environments(
    conn: Connection, account_id: int, key: str
) -> tuple[bool, str | None] | None:
    """(live, environments) of an account-level secret, or None if it never existed."""
    row = conn.execute(
        select(secrets.c.deleted, secrets.c.environments).where(
            scope_clause(account_id, None), secrets.c.key == key
        )
    ).first()
    return None if row is None else (not row[0], row[1])


def account_restrictions(conn: Connection, account_id: int) -> dict[str, str]:
    """The live account-level secrets restricted to environments: key -> environments."""
    rows = conn.execute(
        select(secrets.c.key, secrets.c.environments).where(
            scope_clause(account_id, None),
            secrets.c.deleted.is_(False),
            secrets.c.environments.is_not(None),
        )
    ).all()
    return {key: environments for key, environments in rows if environments is not None}


def account_environments(conn: Connection, account_id: int) -> set[str | None]:
    """The distinct restrictions of the live account-level secrets (None: unrestricted)."""
    rows = conn.execute(
        select(secrets.c.environments)
        .where(scope_clause(account_id, None), secrets.c.deleted.is_(False))
        .distinct()
    ).all()
    return {row[0] for row in rows}


def set_environments(conn: Connection, secret_id: int, environments: str | None) -> None:
    conn.execute(update(secrets).where(secrets.c.id == secret_id).values(environments=environments))
