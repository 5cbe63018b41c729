"""Environments: an account-level secret may be restricted to stacks of some environments.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("secrets") as batch:
        batch.add_column(sa.Column("environments", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("secrets") as batch:
        batch.drop_column("environments")
