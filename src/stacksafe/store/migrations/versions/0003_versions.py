"""Versions: destroyed version ciphertexts, and a per-level limit on kept versions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch_alter_table: SQLite cannot add constraints in place; plain columns it can.
    with op.batch_alter_table("secret_versions") as batch:
        batch.add_column(sa.Column("destroyed_at", sa.DateTime(), nullable=True))
    for table in ("accounts", "stacks"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("max_versions", sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in ("stacks", "accounts"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("max_versions")
    with op.batch_alter_table("secret_versions") as batch:
        batch.drop_column("destroyed_at")
