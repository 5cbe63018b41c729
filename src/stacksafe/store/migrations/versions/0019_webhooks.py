"""Change-event webhooks (docs/operations.md, "Webhooks"): ``webhooks``, one row per
subscription of an account or a stack: its URL (sealed; its origin shown), the name of the
secret that signs its POSTs, whether it is paused, its durable cursor over the audit log, which
server process delivers it and until when (the lease), and its last error and delivery.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", _Id, nullable=False),
        sa.Column("account_id", _Id, nullable=False),
        sa.Column("stack_id", _Id, nullable=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("origin", sa.String(512), nullable=False),
        sa.Column("sealed_url", sa.LargeBinary(), nullable=False),
        sa.Column("signing_key", sa.String(255), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("lease_holder", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.Column("last_delivered_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_webhooks_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["stack_id"], ["stacks.id"], name=op.f("fk_webhooks_stack_id_stacks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        sa.UniqueConstraint("account_id", "name", name="uq_webhooks_account_id_name"),
    )


def downgrade() -> None:
    # The subscriptions and their cursors go; the audit log and the signing secrets stay.
    op.drop_table("webhooks")
