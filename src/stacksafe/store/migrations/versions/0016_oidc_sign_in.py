"""People sign in to the web UI with OpenID Connect (docs/identity.md, "People: single sign-on"):
``oidc_provider`` (one row: the provider's issuer, client id, sealed client secret, endpoints
and keys from its discovery document, the groups claim, allowed email domains, whether password
sign-in stays on), ``oidc_group_roles`` (a group's role in an account, applied at every
sign-in), ``oidc_flows`` (sign-ins under way, by the keyed hash of their flow cookie: one use).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "oidc_provider",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("client_secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("authorization_endpoint", sa.Text(), nullable=False),
        sa.Column("token_endpoint", sa.Text(), nullable=False),
        sa.Column("token_auth_method", sa.String(32), nullable=False),
        sa.Column("jwks_uri", sa.Text(), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("groups_claim", sa.String(128), nullable=True),
        sa.Column("allowed_domains", sa.Text(), nullable=True),
        sa.Column("password_sign_in", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_oidc_provider_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_provider")),
    )
    op.create_table(
        "oidc_group_roles",
        sa.Column("id", _Id, nullable=False),
        sa.Column("group_name", sa.String(256), nullable=False),
        sa.Column("account_id", _Id, nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_oidc_group_roles_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_group_roles")),
        sa.UniqueConstraint("group_name", "account_id", name="uq_oidc_group_roles_group_account"),
    )
    op.create_table(
        "oidc_flows",
        sa.Column("flow_hash", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("flow_hash", name=op.f("pk_oidc_flows")),
    )
    op.create_index("ix_oidc_flows_expires_at", "oidc_flows", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_flows_expires_at", table_name="oidc_flows")
    op.drop_table("oidc_flows")
    op.drop_table("oidc_group_roles")
    op.drop_table("oidc_provider")
