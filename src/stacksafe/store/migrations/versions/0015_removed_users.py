"""Removed users: ``users.removed_at``.

Offboarding (``stacksafe users remove``) keeps the user's row, so that the foreign keys of their
tokens and web sessions hold and the audit log's events keep naming an email that existed; the
row is marked removed instead. A removed user cannot sign in, authenticate a token or be given
one, and lists leave them out. Giving the same email a role again later clears the mark on that
same row (core.principals.removal): their old tokens stay revoked and their password stays gone.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain nullable column, added in place: a batch copy of ``users`` would drop its
    # principals-revision triggers (0008).
    op.add_column("users", sa.Column("removed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    # A removed user would become a user again with no roles and no valid token (both were
    # taken away at removal): nothing they could use, but their email would list again.
    # In place too (SQLite 3.35+ drops a plain column itself), keeping the triggers.
    op.drop_column("users", "removed_at")
