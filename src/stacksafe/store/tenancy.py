"""Queries for accounts and stacks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, and_, bindparam, insert, select, update

from stacksafe.model import Account, Stack
from stacksafe.store.driver import DriverStatement
from stacksafe.store.nowait import NoWaitReader
from stacksafe.store.schema import accounts, principals_revision, stacks

if TYPE_CHECKING:
    # psycopg: imported only where the database is PostgreSQL (store.transactions.Store).
    from stacksafe.store.loop_reader import LoopReader

__all__ = [
    "account_by_id",
    "account_by_name",
    "account_by_uid",
    "insert_account",
    "insert_stack",
    "list_accounts",
    "list_stacks",
    "loop_stack_request",
    "max_versions_of",
    "nowait_stack_request",
    "send_max_versions",
    "set_max_versions",
    "stack_and_account_by_uid",
    "stack_by_id",
    "stack_by_uid",
    "stack_request",
    "stacks_by_name",
]


def _account(row: Row[Any]) -> Account:
    return Account(row.id, row.uid, row.name, row.created_at, row.updated_at)


def _stack(row: Any) -> Stack:
    return Stack(
        row.id, row.uid, row.account_id, row.name, row.environment, row.created_at, row.updated_at
    )


def insert_account(conn: Connection, uid: str, name: str, now: datetime) -> Account:
    new_id = conn.execute(
        insert(accounts)
        .values(uid=uid, name=name, created_at=now, updated_at=now)
        .returning(accounts.c.id)
    ).scalar_one()
    return Account(new_id, uid, name, now, now)


# Built once, with bound parameters: every request resolves its account or stack.
# Every query that finds a level finds only live ones: a deleted level keeps its row (revision
# 0017), marked, and its stacks are marked with it.
_LIVE_ACCOUNT = accounts.c.deleted_at.is_(None)
_LIVE_STACK = stacks.c.deleted_at.is_(None)
_ACCOUNT_BY = {
    column: select(accounts).where(accounts.c[column] == bindparam("ref"), _LIVE_ACCOUNT)
    for column in ("id", "uid", "name")
}
_STACK_AND_ACCOUNT_BY_UID = (
    select(*stacks.c, *(c.label(f"parent_{c.name}") for c in accounts.c))
    .join(accounts, accounts.c.id == stacks.c.account_id)
    .where(stacks.c.uid == bindparam("uid"), _LIVE_STACK)
)

# The principals revision with the stack, for a request's one read (core.tenancy.stack_request):
# always one row, the stack's columns NULL when no stack has that uid.
_STACK_REQUEST = (
    select(
        principals_revision.c.revision.label("principals_revision"),
        *stacks.c,
        *(c.label(f"parent_{c.name}") for c in accounts.c),
    )
    .select_from(
        principals_revision.outerjoin(
            stacks.join(accounts, accounts.c.id == stacks.c.account_id),
            and_(stacks.c.uid == bindparam("uid"), _LIVE_STACK),
        )
    )
    .where(principals_revision.c.id == 1)
)


def _one_account(conn: Connection, column: str, ref: object) -> Account | None:
    row = conn.execute(_ACCOUNT_BY[column], {"ref": ref}).first()
    return None if row is None else _account(row)


def account_by_name(conn: Connection, name: str) -> Account | None:
    return _one_account(conn, "name", name)


def account_by_uid(conn: Connection, uid: str) -> Account | None:
    return _one_account(conn, "uid", uid)


def account_by_id(conn: Connection, account_id: int) -> Account | None:
    return _one_account(conn, "id", account_id)


# Through the driver (store.driver): every request naming a stack by uid reads it.
_STACK_AND_ACCOUNT_DRIVER = DriverStatement(_STACK_AND_ACCOUNT_BY_UID)


def stack_and_account_by_uid(conn: Connection, uid: str) -> tuple[Stack, Account, str] | None:
    """A stack, its account and the revision of the stack's secrets (as
    ``secrets.secrets_revision`` gives it), in one query."""
    row = _STACK_AND_ACCOUNT_DRIVER.first(conn, {"uid": uid})
    return None if row is None else _stack_account_revision(row)


def stack_request(conn: Connection, uid: str) -> tuple[str, tuple[Stack, Account, str] | None]:
    """The principals revision (store.principals.principals_revision_of), and what
    ``stack_and_account_by_uid`` gives for ``uid``: both in one query."""
    row = conn.execute(_STACK_REQUEST, {"uid": uid}).one()
    found = None if row.id is None else _stack_account_revision(row)
    return row.principals_revision, found


def nowait_stack_request(
    reader: NoWaitReader, uid: str
) -> tuple[str, tuple[Stack, Account, str] | None] | None:
    """``stack_request`` through a never-waiting reader (store.nowait); None when it could not
    read at once (or the principals revision row is missing): use ``stack_request``."""
    return _stack_request_of(reader.first(_STACK_REQUEST, {"uid": uid}))


async def loop_stack_request(
    reader: LoopReader, uid: str
) -> tuple[str, tuple[Stack, Account, str] | None] | None:
    """``stack_request`` awaited on the event loop (store.loop_reader); None when it could not
    be read there: use ``stack_request``."""
    return _stack_request_of(await reader.first(_STACK_REQUEST, {"uid": uid}))


def _stack_request_of(row: Any) -> tuple[str, tuple[Stack, Account, str] | None] | None:
    if row is None:
        return None
    found = None if row.id is None else _stack_account_revision(row)
    return row.principals_revision, found


def _stack_account_revision(row: Any) -> tuple[Stack, Account, str]:
    account = Account(
        row.parent_id,
        row.parent_uid,
        row.parent_name,
        row.parent_created_at,
        row.parent_updated_at,
    )
    return _stack(row), account, f"{row.parent_secrets_revision}/{row.secrets_revision}"


def list_accounts(conn: Connection) -> list[Account]:
    query = select(accounts).where(_LIVE_ACCOUNT).order_by(accounts.c.name)
    return [_account(r) for r in conn.execute(query)]


def insert_stack(
    conn: Connection, uid: str, account_id: int, name: str, environment: str, now: datetime
) -> Stack:
    new_id = conn.execute(
        insert(stacks)
        .values(
            uid=uid,
            account_id=account_id,
            name=name,
            environment=environment,
            created_at=now,
            updated_at=now,
        )
        .returning(stacks.c.id)
    ).scalar_one()
    return Stack(new_id, uid, account_id, name, environment, now, now)


def stack_by_uid(conn: Connection, uid: str) -> Stack | None:
    row = conn.execute(select(stacks).where(stacks.c.uid == uid, _LIVE_STACK)).first()
    return None if row is None else _stack(row)


def stack_by_id(conn: Connection, stack_id: int) -> Stack | None:
    row = conn.execute(select(stacks).where(stacks.c.id == stack_id, _LIVE_STACK)).first()
    return None if row is None else _stack(row)


def stacks_by_name(conn: Connection, name: str, account_id: int | None = None) -> Sequence[Stack]:
    query = select(stacks).where(stacks.c.name == name, _LIVE_STACK)
    if account_id is not None:
        query = query.where(stacks.c.account_id == account_id)
    return [_stack(r) for r in conn.execute(query.order_by(stacks.c.id))]


def list_stacks(conn: Connection, account_id: int | None = None) -> list[Stack]:
    query = select(stacks).where(_LIVE_STACK).order_by(stacks.c.account_id, stacks.c.name)
    if account_id is not None:
        query = query.where(stacks.c.account_id == account_id)
    return [_stack(r) for r in conn.execute(query)]


# Through the driver (store.driver): every write of a secret asks, to prune after it.
_MAX_VERSIONS = (
    DriverStatement(select(accounts.c.max_versions).where(accounts.c.id == bindparam("level"))),
    DriverStatement(select(stacks.c.max_versions).where(stacks.c.id == bindparam("level"))),
)


def max_versions_of(conn: Connection, account_id: int, stack_id: int | None) -> int | None:
    """How many versions a secret of this level keeps (None: all)."""
    return send_max_versions(conn, account_id, stack_id)()


def send_max_versions(
    conn: Connection, account_id: int, stack_id: int | None
) -> Callable[[], int | None]:
    """``max_versions_of``'s statement sent now (it may go in a batch: store.driver), its
    answer read when called."""
    level = account_id if stack_id is None else stack_id
    pending = _MAX_VERSIONS[stack_id is not None].send(conn, {"level": level})

    def limit() -> int | None:
        row = pending.first()
        return None if row is None or row[0] is None else int(row[0])

    return limit


def set_max_versions(
    conn: Connection, account_id: int, stack_id: int | None, limit: int | None
) -> None:
    if stack_id is None:
        conn.execute(update(accounts).where(accounts.c.id == account_id).values(max_versions=limit))
    else:
        conn.execute(update(stacks).where(stacks.c.id == stack_id).values(max_versions=limit))
