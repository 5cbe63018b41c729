"""Audit streaming (docs/operations.md, "Audit streaming"): ``audit_sinks``, one row per sink
the owner configured: its type and options (credentials sealed), whether it is paused, its
durable cursor (the last sequence it has), which server process delivers it and until when
(the lease), and its last error and delivery.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_sinks",
        sa.Column("id", _Id, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("lease_holder", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.Column("last_delivered_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_sinks")),
        sa.UniqueConstraint("name", name="uq_audit_sinks_name"),
    )


def downgrade() -> None:
    # The sinks' configuration and cursors go; the audit log itself is untouched.
    op.drop_table("audit_sinks")
