"""The principals revision also changes when a stack changes account or goes, and the trigger
functions on PostgreSQL work on this installation's schema whoever changes a row.

``roles_of`` joins ``stacks`` for each stack role's account (``Principal.stack_accounts``), so a
stack moved to another account, or deleted, changes what a token may do: 0008 did not see it.
Not every UPDATE of ``stacks``: 0007's triggers write ``stacks.secrets_revision`` on every secret
write, which would drop every kept principal each time; only ``id`` and ``account_id`` matter.

On PostgreSQL a trigger function runs with the search_path of the session that changed the row.
A DBA's psql (or a second installation in another schema of the same database) would then
update another schema's revision table, or fail: each function is pinned to the schema the
migration runs in.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SQLITE_REVISE = "UPDATE principals_revision SET revision = lower(hex(randomblob(8))) WHERE id = 1"
# Every trigger function of 0007 and 0008.
POSTGRESQL_FUNCTIONS = (
    "stacksafe_revise_principals()",
    "stacksafe_revise_level(BIGINT, BIGINT)",
    "stacksafe_secrets_revise()",
    "stacksafe_secret_versions_revise()",
    "stacksafe_revise_all()",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
        quoted = bind.dialect.identifier_preparer.quote(schema)
        for function in POSTGRESQL_FUNCTIONS:
            op.execute(f"ALTER FUNCTION {function} SET search_path = {quoted}")
        op.execute(
            "CREATE TRIGGER stacks_revise_principals"
            " AFTER UPDATE OF id, account_id OR DELETE OR TRUNCATE ON stacks"
            " FOR EACH STATEMENT EXECUTE FUNCTION stacksafe_revise_principals()"
        )
        return
    op.execute(
        "CREATE TRIGGER stacks_revise_principals_update AFTER UPDATE OF id, account_id ON stacks"
        f" FOR EACH ROW BEGIN {SQLITE_REVISE}; END"
    )
    op.execute(
        "CREATE TRIGGER stacks_revise_principals_delete AFTER DELETE ON stacks"
        f" FOR EACH ROW BEGIN {SQLITE_REVISE}; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER stacks_revise_principals ON stacks")
        for function in POSTGRESQL_FUNCTIONS:
            op.execute(f"ALTER FUNCTION {function} RESET search_path")
        return
    op.execute("DROP TRIGGER stacks_revise_principals_update")
    op.execute("DROP TRIGGER stacks_revise_principals_delete")
