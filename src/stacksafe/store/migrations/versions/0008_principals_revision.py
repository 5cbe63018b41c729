"""One revision for who may do what, changed by the database itself on every change to it.

``principals_revision`` holds one row. Triggers give it a new random revision whenever a row of
``users``, ``tokens``, ``memberships`` or ``stack_roles`` is inserted, updated or deleted (and, on
PostgreSQL, when one of them is truncated): everything that decides which principal a token
stands for. A server keeps the principals of tokens it checked before (core.known_tokens) and
uses one only while this revision is the one it was kept under, so a revocation, a removed role
or a deleted user takes effect on the next request to every server, without messages between
them and without trusting time. Random rather than counted, as in 0007: a restored or different
database can never show an old revision for new content.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

# ruff: noqa: S608 - trigger DDL assembled from this file's own constants; no input reaches it
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("users", "tokens", "memberships", "stack_roles")
SQLITE_NEW_REVISION = "lower(hex(randomblob(8)))"
POSTGRESQL_NEW_REVISION = "substr(md5(random()::text || clock_timestamp()::text), 1, 16)"
REVISE = "UPDATE principals_revision SET revision = {new} WHERE id = 1"

POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION stacksafe_revise_principals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {REVISE.format(new=POSTGRESQL_NEW_REVISION)};
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.create_table(
        "principals_revision",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.String(32), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_principals_revision_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_principals_revision")),
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    new = POSTGRESQL_NEW_REVISION if postgresql else SQLITE_NEW_REVISION
    op.execute(f"INSERT INTO principals_revision (id, revision) VALUES (1, {new})")
    if postgresql:
        op.execute(POSTGRESQL_FUNCTION)
        for table in TABLES:
            # Per statement: one new revision per change, however many rows it touched.
            op.execute(
                f"CREATE TRIGGER {table}_revise_principals"
                f" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION stacksafe_revise_principals()"
            )
        return
    for table in TABLES:
        for change in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_revise_principals_{change.lower()}"
                f" AFTER {change} ON {table} FOR EACH ROW"
                f" BEGIN {REVISE.format(new=SQLITE_NEW_REVISION)}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER {table}_revise_principals ON {table}")
        op.execute("DROP FUNCTION stacksafe_revise_principals()")
    else:
        for table in TABLES:
            for change in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {table}_revise_principals_{change}")
    op.drop_table("principals_revision")
