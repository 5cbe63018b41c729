"""What a change stream (core.streams.changes) reads: the revisions of the watched stacks'
secrets and of the principals, in one small read, and a stack's effective keys with their
versions (never a value, nor a ciphertext: nothing is opened to tell that a set changed)."""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from sqlalchemy import BindParameter, Connection, and_, bindparam, or_, select

from stacksafe.store.schema import accounts, principals_revision, secrets, stacks

__all__ = ["Head", "WatchedStack", "effective_heads", "watched_stacks"]


class WatchedStack(NamedTuple):
    """A stack as a watcher polls it: what its effective set depends on (its account and
    environment), and the two levels' revisions (migration 0007's triggers replace them)."""

    account_id: int
    environment: str
    account_revision: str
    stack_revision: str


class Head(NamedTuple):
    """A live key of a stack or of its account (``stack_id`` None), at its current version;
    the fields ``core.inheritance.overlay`` reads."""

    key: str
    stack_id: int | None
    version: int
    environments: str | None


_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_WATCHED = (
    select(
        stacks.c.id,
        stacks.c.account_id,
        stacks.c.environment,
        accounts.c.secrets_revision,
        stacks.c.secrets_revision,
    )
    .join(accounts, accounts.c.id == stacks.c.account_id)
    # A deleted stack keeps its row, marked (migration 0017): to a watcher it is gone.
    .where(stacks.c.id.in_(_IDS), stacks.c.deleted_at.is_(None), accounts.c.deleted_at.is_(None))
)
_PRINCIPALS = select(principals_revision.c.revision).where(principals_revision.c.id == 1)
_HEADS = select(
    secrets.c.key, secrets.c.stack_id, secrets.c.current_version, secrets.c.environments
).where(
    secrets.c.deleted.is_(False),
    or_(
        secrets.c.stack_id == bindparam("stack_id"),
        and_(secrets.c.account_id == bindparam("account_id"), secrets.c.stack_id.is_(None)),
    ),
)


def watched_stacks(
    conn: Connection, stack_ids: Collection[int]
) -> tuple[str, dict[int, WatchedStack]]:
    """The principals revision (migration 0008: tokens, users, roles) and each of
    ``stack_ids`` that still exists (not deleted), by id: one indexed read per poll, whatever
    changed."""
    principals: str = conn.execute(_PRINCIPALS).scalar_one()
    if not stack_ids:
        return principals, {}
    rows = conn.execute(_WATCHED, {"ids": list(stack_ids)}).all()
    return principals, {row[0]: WatchedStack(*row[1:]) for row in rows}


def effective_heads(conn: Connection, account_id: int, stack_id: int) -> list[Head]:
    """The live keys of a stack and of its account, with their versions and (account keys)
    environment restrictions; the caller overlays them."""
    rows = conn.execute(_HEADS, {"stack_id": stack_id, "account_id": account_id}).all()
    return [Head(*row) for row in rows]
