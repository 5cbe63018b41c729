"""Schema migrations (Alembic), applied by ``stacksafe init`` and whenever the schema is behind.

Checking whether the schema is current is one cheap query; Alembic is imported only when there
is something to migrate, which keeps the CLI's cold start short.
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect, text

from stacksafe.store.transactions import Store

__all__ = ["HEAD_REVISION", "current_revision", "is_initialised", "upgrade"]

HEAD_REVISION = "0019"


def current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()


def is_initialised(store: Store) -> bool:
    with store.read() as conn:
        return current_revision(conn) is not None


def upgrade(store: Store) -> None:
    """Bring the schema to the newest revision (no-op when it already is)."""
    with store.read() as conn:
        if current_revision(conn) == HEAD_REVISION:
            return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "stacksafe.store:migrations")
    with store.write() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
