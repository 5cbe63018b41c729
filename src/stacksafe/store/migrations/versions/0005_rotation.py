"""Rotation: a policy per secret (interval, expiry, rotator) and the state of its rotations.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rotation_policies",
        sa.Column("secret_id", ID, nullable=False),
        sa.Column("rotate_every", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("expires_version", sa.Integer(), nullable=True),
        sa.Column("rotator", sa.String(16), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("pending_version", sa.Integer(), nullable=True),
        sa.Column("pending_envelope", sa.LargeBinary(), nullable=True),
        sa.Column("pending_since", sa.DateTime(), nullable=True),
        sa.Column("last_rotated_at", sa.DateTime(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["secret_id"],
            ["secrets.id"],
            name="fk_rotation_policies_secret_id_secrets",
        ),
        sa.PrimaryKeyConstraint("secret_id", name="pk_rotation_policies"),
    )


def downgrade() -> None:
    op.drop_table("rotation_policies")
