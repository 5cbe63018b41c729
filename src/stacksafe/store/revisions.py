"""A level's secrets revision: what its stored secrets (with a stack's, its account's too) are at.

Database triggers replace it on every change to them (migration 0007); reads keep what they
opened under it (core.read_cache) and writes check references against it (core.expansion).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import BindParameter, Connection, and_, bindparam, select

from stacksafe.store.driver import DriverStatement
from stacksafe.store.schema import accounts, stacks

__all__ = ["secrets_revision", "send_secrets_revision"]

_ACCOUNT_ID: BindParameter[int] = bindparam("account_id")
_STACK_ID: BindParameter[int] = bindparam("stack_id")
_LIVE = and_(accounts.c.id == _ACCOUNT_ID, accounts.c.deleted_at.is_(None))  # revision 0017
_ACCOUNT_REVISION = select(accounts.c.secrets_revision).where(_LIVE)
_STACK_REVISION = (
    select(accounts.c.secrets_revision, stacks.c.secrets_revision)
    .join(accounts, accounts.c.id == stacks.c.account_id)
    .where(stacks.c.id == _STACK_ID, stacks.c.deleted_at.is_(None), _LIVE)
)


# Through the driver: every write of a stack's secret reads it after the write (core.expansion).
_REVISION_DRIVER = (DriverStatement(_ACCOUNT_REVISION), DriverStatement(_STACK_REVISION))


def secrets_revision(conn: Connection, account_id: int, stack_id: int | None) -> str | None:
    """What the stored secrets of a level are at; None: no such level (or a deleted one)."""
    return send_secrets_revision(conn, account_id, stack_id)()


def send_secrets_revision(
    conn: Connection, account_id: int, stack_id: int | None
) -> Callable[[], str | None]:
    """``secrets_revision``'s statement sent now (it may go in a batch: store.driver), its
    answer read when called."""
    given = {"account_id": account_id, "stack_id": stack_id}
    pending = _REVISION_DRIVER[stack_id is not None].send(conn, given)

    def revision() -> str | None:
        row = pending.first()
        if row is None:
            return None
        return str(row[0]) if stack_id is None else f"{row[0]}/{row[1]}"

    return revision
