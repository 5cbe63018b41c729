"""Failed guesses counted in the database, shared by every server on it.

Bad tokens per address and failed sign-ins per email (and per address and email) were counted
in each server process: behind a load balancer with several servers, each allowed the full
limit, and a restart forgot every count. ``failures`` holds one row per counted target and
fixed window (``core.guessing``); the target is a keyed hash, never an email or an address.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "failures",
        sa.Column("target", sa.LargeBinary(), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("target", "period", name=op.f("pk_failures")),
    )
    op.create_index("ix_failures_expires", "failures", ["expires"])


def downgrade() -> None:
    # Counts only: nothing else refers to them, and nothing is lost that a minute would not.
    op.drop_index("ix_failures_expires", table_name="failures")
    op.drop_table("failures")
