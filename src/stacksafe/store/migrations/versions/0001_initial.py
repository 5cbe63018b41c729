"""Initial schema: master keys, accounts, stacks, data keys, secrets and their versions.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# 64-bit ids on PostgreSQL; SQLite's INTEGER PRIMARY KEY is already 64-bit and a rowid alias.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", ID, nullable=False),
        sa.Column("uid", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
        sa.UniqueConstraint("uid", name=op.f("uq_accounts_uid")),
    )
    op.create_table(
        "master_keys",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("check_value", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_master_keys")),
    )
    op.create_table(
        "stacks",
        sa.Column("id", ID, nullable=False),
        sa.Column("uid", sa.String(length=64), nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_stacks_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stacks")),
        sa.UniqueConstraint("account_id", "name", name="uq_stacks_account_id_name"),
        sa.UniqueConstraint("uid", name=op.f("uq_stacks_uid")),
    )
    op.create_index("ix_stacks_name", "stacks", ["name"], unique=False)
    op.create_table(
        "data_keys",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("stack_id", ID, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("master_key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("seal_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_data_keys_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["master_key_version"],
            ["master_keys.version"],
            name=op.f("fk_data_keys_master_key_version_master_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["stack_id"], ["stacks.id"], name=op.f("fk_data_keys_stack_id_stacks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_keys")),
    )
    op.create_index(
        "uq_data_keys_account_level",
        "data_keys",
        ["account_id", "version"],
        unique=True,
        sqlite_where=sa.text("stack_id IS NULL"),
        postgresql_where=sa.text("stack_id IS NULL"),
    )
    op.create_index(
        "uq_data_keys_stack_level",
        "data_keys",
        ["stack_id", "version"],
        unique=True,
        sqlite_where=sa.text("stack_id IS NOT NULL"),
        postgresql_where=sa.text("stack_id IS NOT NULL"),
    )
    op.create_table(
        "secrets",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("stack_id", ID, nullable=True),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_secrets_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["stack_id"], ["stacks.id"], name=op.f("fk_secrets_stack_id_stacks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secrets")),
    )
    op.create_index(
        "uq_secrets_account_level",
        "secrets",
        ["account_id", "key"],
        unique=True,
        sqlite_where=sa.text("stack_id IS NULL"),
        postgresql_where=sa.text("stack_id IS NULL"),
    )
    op.create_index(
        "uq_secrets_stack_level",
        "secrets",
        ["stack_id", "key"],
        unique=True,
        sqlite_where=sa.text("stack_id IS NOT NULL"),
        postgresql_where=sa.text("stack_id IS NOT NULL"),
    )
    op.create_table(
        "secret_versions",
        sa.Column("id", ID, nullable=False),
        sa.Column("secret_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=True),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["secret_id"], ["secrets.id"], name=op.f("fk_secret_versions_secret_id_secrets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_versions")),
        sa.UniqueConstraint("secret_id", "version", name="uq_secret_versions_secret_id_version"),
    )


def downgrade() -> None:
    for table in ("secret_versions", "secrets", "data_keys", "stacks", "master_keys", "accounts"):
        op.drop_table(table)
