"""Large audit event details stored once, shared by every event with the same text.

A reveal's event names every key it revealed with its version and its value's fingerprint: for
a stack of 200 secrets, 16 KB, and the same 16 KB on every reveal while the stack is unchanged.
``audit_details`` holds such a text once, by its SHA-256; an event that shares one has an empty
``detail`` and the digest in ``detail_digest``. The hash chain is unchanged: each event is
hashed with its full detail text, as before, so a shared text edited or removed breaks the chain
at every event that uses it (``audit verify``). Events written before keep their text inline.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_details",
        sa.Column("digest", sa.LargeBinary(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_audit_details")),
    )
    op.add_column("audit_events", sa.Column("detail_digest", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    # Every shared text back inline first: the chain covers it, and 0010 reads only ``detail``.
    op.execute(
        "UPDATE audit_events SET detail = (SELECT d.detail FROM audit_details d"
        " WHERE d.digest = audit_events.detail_digest) WHERE detail_digest IS NOT NULL"
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("detail_digest")
    op.drop_table("audit_details")
