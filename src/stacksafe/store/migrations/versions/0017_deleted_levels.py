"""Deleted stacks and accounts keep their rows, marked: ``deleted_at`` and ``deleted_name``.

``stacks delete`` / ``accounts delete`` (core.deletion) used to delete a level's rows with it;
its history (which keys it had, every version's author, time and action) then lived on only in
the audit log. Now the level's row stays, marked deleted, and so do its secrets' rows and every
version row (each ciphertext emptied and marked destroyed first). What goes is what gives
access or could open anything: its roles, data keys, rotation policies and KV bookkeeping.

The row leaves the namespace: its ``name`` becomes a tombstone that no valid name can equal
(names cannot hold control characters: core.validation), the name it had moves to
``deleted_name``, and the unique constraints on names stay as they are, so the name is free for
a new stack or account at once. Both columns are added in place: a batch copy of ``stacks``
would drop 0009's triggers, and SQLite cannot drop a table's inline UNIQUE without one.

A stack marked deleted changes what a token may do as deleting it did (0009): the principals
revision moves on ``UPDATE OF deleted_at`` too.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# ruff: noqa: S608 - statements assembled from this file's own constants; no input reaches them

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

SQLITE_REVISE = "UPDATE principals_revision SET revision = lower(hex(randomblob(8))) WHERE id = 1"
_LEVELS = ("accounts", "stacks")


def upgrade() -> None:
    for table in _LEVELS:
        op.add_column(table, sa.Column("deleted_at", sa.DateTime(), nullable=True))
        op.add_column(table, sa.Column("deleted_name", sa.String(255), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        _replace_postgresql_trigger("UPDATE OF id, account_id, deleted_at")
        return
    op.execute(
        "CREATE TRIGGER stacks_revise_principals_deleted AFTER UPDATE OF deleted_at ON stacks"
        f" FOR EACH ROW BEGIN {SQLITE_REVISE}; END"
    )


def downgrade() -> None:
    # The deleted levels' rows would come back as live levels under their tombstone names, with
    # no values and no roles: delete them (children first), as core.deletion did before 0017.
    for statement in _DELETE_MARKED:
        op.execute(statement)
    if op.get_bind().dialect.name == "postgresql":
        _replace_postgresql_trigger("UPDATE OF id, account_id")
    else:
        op.execute("DROP TRIGGER stacks_revise_principals_deleted")
    for table in _LEVELS:
        # In place (SQLite 3.35+ drops a plain column itself), keeping the triggers.
        op.drop_column(table, "deleted_name")
        op.drop_column(table, "deleted_at")


def _replace_postgresql_trigger(updates: str) -> None:
    op.execute("DROP TRIGGER stacks_revise_principals ON stacks")
    op.execute(
        "CREATE TRIGGER stacks_revise_principals"
        f" AFTER {updates} OR DELETE OR TRUNCATE ON stacks"
        " FOR EACH STATEMENT EXECUTE FUNCTION stacksafe_revise_principals()"
    )


_MARKED_STACKS = "SELECT id FROM stacks WHERE deleted_at IS NOT NULL"
_MARKED_ACCOUNTS = "SELECT id FROM accounts WHERE deleted_at IS NOT NULL"
_MARKED_SECRETS = (
    f"SELECT id FROM secrets WHERE stack_id IN ({_MARKED_STACKS})"
    f" OR (stack_id IS NULL AND account_id IN ({_MARKED_ACCOUNTS}))"
)
_DELETE_MARKED = (
    f"DELETE FROM secret_versions WHERE secret_id IN ({_MARKED_SECRETS})",
    f"DELETE FROM secrets WHERE id IN ({_MARKED_SECRETS})",
    f"DELETE FROM stacks WHERE id IN ({_MARKED_STACKS})",
    f"DELETE FROM accounts WHERE id IN ({_MARKED_ACCOUNTS})",
)
