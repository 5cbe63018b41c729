"""A bulk load's writes: new secrets at version 1 and their first versions, two statements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert

from stacksafe.store.level_writes import level_write
from stacksafe.store.schema import secret_versions, secrets

__all__ = ["FirstVersion", "insert_first_versions"]


@dataclass(frozen=True, slots=True)
class FirstVersion:
    """A secret new to its stack, with the envelope of its version 1."""

    account_id: int
    stack_id: int | None  # None: the account's own level
    key: str
    envelope: bytes


def insert_first_versions(
    conn: Connection, new: Sequence[FirstVersion], action: str, author: str, now: datetime
) -> None:
    """Insert ``new`` secrets at version 1 and their versions: one multi-row statement each
    ("insertmanyvalues"; the ids come back in row order)."""
    if not new:
        return
    writes = {
        level: level_write(conn, *level, now) for level in {(o.account_id, o.stack_id) for o in new}
    }
    ids = conn.execute(
        insert(secrets).returning(secrets.c.id, sort_by_parameter_order=True),
        [
            {
                "account_id": one.account_id,
                "stack_id": one.stack_id,
                "key": one.key,
                "current_version": 1,
                "deleted": False,
                "created_at": now,
                "updated_at": now,
            }
            for one in new
        ],
    ).scalars()
    conn.execute(
        insert(secret_versions),
        [
            {
                "secret_id": secret_id,
                "version": 1,
                "action": action,
                "envelope": one.envelope,
                "author": author,
                "created_at": now,
                "level_write_id": writes[one.account_id, one.stack_id],
            }
            for secret_id, one in zip(ids, new, strict=True)
        ],
    )
