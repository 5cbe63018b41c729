"""Queries for the change events' webhooks: their rows with the level each is subscribed to
(its uids, its names, whether it was deleted); the lease and the cursor are store.cursors',
bound to this table, a webhook whose level is deleted counting as gone to its loop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    Table,
    and_,
    delete,
    func,
    select,
)

from stacksafe.store.cursors import CursorTable
from stacksafe.store.schema import accounts, stacks
from stacksafe.store.stream_tables import webhooks

__all__ = [
    "CURSORS",
    "StoredWebhook",
    "delete_webhook",
    "insert_webhook",
    "list_webhooks",
    "live_webhooks",
    "webhook_by_id",
    "webhook_by_name",
]


@dataclass(frozen=True, slots=True)
class StoredWebhook:
    """A webhook's row, with its level: ``stack_uid`` None for an account's subscription;
    the names are the ones the levels had when deleted, for a deleted one."""

    id: int
    account_id: int
    stack_id: int | None
    name: str
    origin: str
    sealed_url: bytes
    signing_key: str
    paused: bool
    cursor: int
    lease_holder: str | None
    lease_until: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    last_delivered_at: datetime | None
    created_at: datetime
    created_by: str
    account_uid: str
    account_name: str
    stack_uid: str | None
    stack_name: str | None
    stack_environment: str | None
    level_deleted: bool

    def __repr__(self) -> str:  # the sealed URL is ciphertext, but no need to print it
        return f"StoredWebhook(id={self.id}, name={self.name!r}, origin={self.origin!r})"


def _deleted(table: Table) -> ColumnElement[bool]:
    return table.c.deleted_at.is_not(None)


def _query() -> Select[Any]:
    level_deleted = _deleted(accounts) | (webhooks.c.stack_id.is_not(None) & _deleted(stacks))
    return select(
        webhooks,
        accounts.c.uid.label("account_uid"),
        func.coalesce(accounts.c.deleted_name, accounts.c.name).label("account_name"),
        stacks.c.uid.label("stack_uid"),
        func.coalesce(stacks.c.deleted_name, stacks.c.name).label("stack_name"),
        stacks.c.environment.label("stack_environment"),
        level_deleted.label("level_deleted"),
    ).select_from(
        webhooks.join(accounts, accounts.c.id == webhooks.c.account_id).outerjoin(
            stacks, stacks.c.id == webhooks.c.stack_id
        )
    )


def _webhook(row: Row[Any]) -> StoredWebhook:
    found = row._mapping
    return StoredWebhook(
        **{
            **{k: found[k] for k in found},
            "sealed_url": bytes(found["sealed_url"]),
            "paused": bool(found["paused"]),
            "cursor": int(found["cursor"]),
            "level_deleted": bool(found["level_deleted"]),
        }
    )


def insert_webhook(
    conn: Connection,
    *,
    account_id: int,
    stack_id: int | None,
    name: str,
    origin: str,
    sealed_url: bytes,
    signing_key: str,
    cursor: int,
    created_by: str,
    now: datetime,
) -> StoredWebhook:
    values = {
        "account_id": account_id,
        "stack_id": stack_id,
        "name": name,
        "origin": origin,
        "sealed_url": sealed_url,
        "signing_key": signing_key,
        "cursor": cursor,
        "created_at": now,
        "created_by": created_by,
    }
    found = webhook_by_id(conn, CURSORS.insert(conn, values))
    assert found is not None  # noqa: S101 - inserted just now, in this transaction
    return found


def webhook_by_id(conn: Connection, webhook_id: int) -> StoredWebhook | None:
    row = conn.execute(_query().where(webhooks.c.id == webhook_id)).first()
    return None if row is None else _webhook(row)


def webhook_by_name(conn: Connection, account_id: int, name: str) -> StoredWebhook | None:
    row = conn.execute(
        _query().where(webhooks.c.account_id == account_id, webhooks.c.name == name)
    ).first()
    return None if row is None else _webhook(row)


def list_webhooks(conn: Connection, account_ids: list[int] | None = None) -> list[StoredWebhook]:
    """Every webhook of the accounts named (None: of all), by account and name."""
    query = _query()
    if account_ids is not None:
        query = query.where(webhooks.c.account_id.in_(account_ids))
    rows = conn.execute(query.order_by(webhooks.c.account_id, webhooks.c.name))
    return [_webhook(r) for r in rows]


def live_webhooks(conn: Connection) -> list[StoredWebhook]:
    """The webhooks whose level is not deleted (what the server delivers)."""
    return [w for w in list_webhooks(conn) if not w.level_deleted]


def delete_webhook(conn: Connection, webhook_id: int) -> None:
    conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id))


class _WebhookCursors(CursorTable):
    def live(self, row_id: int) -> ColumnElement[bool]:
        # A webhook whose account or stack was deleted is gone to its loop: it stops.
        live_account = select(accounts.c.id).where(
            accounts.c.id == webhooks.c.account_id, accounts.c.deleted_at.is_(None)
        )
        live_stack = select(stacks.c.id).where(
            stacks.c.id == webhooks.c.stack_id, stacks.c.deleted_at.is_(None)
        )
        return and_(
            webhooks.c.id == row_id,
            live_account.exists(),
            webhooks.c.stack_id.is_(None) | live_stack.exists(),
        )


CURSORS: CursorTable = _WebhookCursors(webhooks)
