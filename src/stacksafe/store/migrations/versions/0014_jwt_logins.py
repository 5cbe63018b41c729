"""Workload logins with a JWT (docs/identity.md): issuers, roles, seen token ids, and the name a
token issued at a login acts as.

``jwt_issuers`` holds an issuer's URL, where its keys come from and its public keys (JWKS, the
last fetched or the file given); ``jwt_roles`` what a login under a role gives (an account role,
narrowing, scopes, lifetimes) and which claims it needs; each role acts through a user of its
own (``users.email`` ``jwt:<role>``) so that tokens, roles and the principals revision work as
for people. ``jwt_seen`` holds the ``jti`` of tokens used by roles that refuse a replay, until
they expire. ``tokens.actor``: the name audit events of a login's token carry (the role, the
JWT's ``sub`` and ``jti``); NULL for tokens made by hand.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "jwt_issuers",
        sa.Column("id", _Id, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("keys_from", sa.String(16), nullable=False),
        sa.Column("keys_url", sa.Text(), nullable=True),
        sa.Column("jwks", sa.Text(), nullable=False),
        sa.Column("audiences", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jwt_issuers")),
        sa.UniqueConstraint("name", name=op.f("uq_jwt_issuers_name")),
    )
    op.create_table(
        "jwt_roles",
        sa.Column("id", _Id, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("issuer_id", _Id, nullable=False),
        sa.Column("user_id", _Id, nullable=False),
        sa.Column("account_id", _Id, nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("audiences", sa.Text(), nullable=False),
        sa.Column("claims", sa.Text(), nullable=False),
        sa.Column("stack_uids", sa.Text(), nullable=True),
        sa.Column("environments", sa.Text(), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("max_ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("refuse_replay", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issuer_id"], ["jwt_issuers.id"], name=op.f("fk_jwt_roles_issuer_id_jwt_issuers")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_jwt_roles_user_id_users")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_jwt_roles_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jwt_roles")),
        sa.UniqueConstraint("name", name=op.f("uq_jwt_roles_name")),
    )
    op.create_table(
        "jwt_seen",
        sa.Column("issuer_id", _Id, nullable=False),
        sa.Column("jti", sa.String(256), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issuer_id"], ["jwt_issuers.id"], name=op.f("fk_jwt_seen_issuer_id_jwt_issuers")
        ),
        sa.PrimaryKeyConstraint("issuer_id", "jti", name=op.f("pk_jwt_seen")),
    )
    op.create_index("ix_jwt_seen_expires_at", "jwt_seen", ["expires_at"])
    # Not a batch (on SQLite it copies the table, and the copy has none of 0008's triggers).
    op.add_column("tokens", sa.Column("actor", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE tokens DROP COLUMN actor")  # SQLite 3.35+ and PostgreSQL
    op.drop_index("ix_jwt_seen_expires_at", table_name="jwt_seen")
    op.drop_table("jwt_seen")
    op.drop_table("jwt_roles")
    op.drop_table("jwt_issuers")
