"""Alembic environment: migrations run on a connection handed over by stacksafe.store.migrate."""

from __future__ import annotations

from alembic import context

from stacksafe.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through stacksafe.store.migrate
    raise RuntimeError("run migrations through `stacksafe init` or stacksafe.store.migrate")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
