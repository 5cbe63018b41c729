"""How many secret rows a level holds, counted up to a bound (what a one-key read checks before
it opens the whole level to keep it: core.level_reads)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from stacksafe.store import Connection
from stacksafe.store.schema import secrets
from stacksafe.store.secrets import scope_clause

__all__ = ["level_rows"]


def level_rows(conn: Connection, account_id: int, stack_id: int | None, most: int) -> int:
    """The live secret rows of the level (a stack's own and its account's: at least its
    effective set), counted up to ``most + 1`` per level so that a huge level costs no more
    than a small one; more than ``most`` means "more than ``most``"."""
    levels = [scope_clause(account_id, None)]
    if stack_id is not None:
        levels.append(scope_clause(account_id, stack_id))
    counts = [_counted(level, most + 1).scalar_subquery() for level in levels]
    total = counts[0] if len(counts) == 1 else counts[0] + counts[1]
    return int(conn.execute(select(total)).scalar_one())


def _counted(level: ColumnElement[bool], limit: int) -> Select[Any]:
    live = select(secrets.c.id).where(level, secrets.c.deleted.is_(False)).limit(limit)
    return select(func.count()).select_from(live.subquery())
