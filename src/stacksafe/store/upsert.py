"""A dialect's own INSERT, the one that can say ON CONFLICT: SQLite's or PostgreSQL's.

The dialect's module is imported when that dialect first asks for it, so that a process on
SQLite (every local CLI command) does not import PostgreSQL's dialect (bench/README.md,
"Start-up")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Table

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

__all__ = ["dialect_insert"]


def dialect_insert(dialect: str, table: Table) -> PostgresqlInsert | SqliteInsert:
    """``INSERT INTO table`` as ``dialect`` (a SQLAlchemy dialect's name) spells it."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)
