"""A revision per secret level, changed by the database itself on every change to its secrets.

``accounts.secrets_revision`` covers an account's own level, ``stacks.secrets_revision`` a
stack's own. Triggers give the level a new random revision whenever a row of ``secrets`` or of
``secret_versions`` is inserted, updated or deleted (and, on PostgreSQL, every level when either
table is truncated). Because the database does it, no writer
can forget, and a change made with plain SQL behind the server's back (tampering included)
changes the revision too. Readers compare revisions to know whether what they opened before is
still what is stored (core.read_cache). Random rather than counted: a database restored from a
backup, or another database altogether, can never show an old revision for new content.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

# ruff: noqa: S608 - trigger DDL assembled from this file's own constants; no input reaches it
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SQLITE_NEW_REVISION = "lower(hex(randomblob(8)))"
POSTGRESQL_NEW_REVISION = "substr(md5(random()::text || clock_timestamp()::text), 1, 16)"


def _sqlite_revise(row: str, via_secret: bool) -> str:
    """Statements giving the level of ``row`` (OLD or NEW) a new revision."""
    if via_secret:
        account = (
            f"(SELECT account_id FROM secrets WHERE id = {row}.secret_id AND stack_id IS NULL)"
        )
        stack = f"(SELECT stack_id FROM secrets WHERE id = {row}.secret_id)"
        return (
            f"UPDATE accounts SET secrets_revision = {SQLITE_NEW_REVISION} WHERE id = {account};"
            f" UPDATE stacks SET secrets_revision = {SQLITE_NEW_REVISION} WHERE id = {stack};"
        )
    return (
        f"UPDATE accounts SET secrets_revision = {SQLITE_NEW_REVISION}"
        f" WHERE {row}.stack_id IS NULL AND id = {row}.account_id;"
        f" UPDATE stacks SET secrets_revision = {SQLITE_NEW_REVISION} WHERE id = {row}.stack_id;"
    )


SQLITE_TRIGGERS = {
    "secrets_revise_insert": ("AFTER INSERT ON secrets", ("NEW",), False),
    "secrets_revise_update": ("AFTER UPDATE ON secrets", ("OLD", "NEW"), False),
    "secrets_revise_delete": ("AFTER DELETE ON secrets", ("OLD",), False),
    # A version is inserted together with a change to its secret, so this adds nothing for
    # stacksafe's own writes; it catches SQLite's INSERT OR REPLACE, which deletes the old row
    # without running delete triggers.
    "secret_versions_revise_insert": ("AFTER INSERT ON secret_versions", ("NEW",), True),
    "secret_versions_revise_update": ("AFTER UPDATE ON secret_versions", ("OLD", "NEW"), True),
    "secret_versions_revise_delete": ("AFTER DELETE ON secret_versions", ("OLD",), True),
}

POSTGRESQL_FUNCTIONS = f"""
CREATE FUNCTION stacksafe_revise_level(p_account BIGINT, p_stack BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_stack IS NULL THEN
        UPDATE accounts SET secrets_revision = {POSTGRESQL_NEW_REVISION} WHERE id = p_account;
    ELSE
        UPDATE stacks SET secrets_revision = {POSTGRESQL_NEW_REVISION} WHERE id = p_stack;
    END IF;
END $$;

CREATE FUNCTION stacksafe_secrets_revise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM stacksafe_revise_level(OLD.account_id, OLD.stack_id);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (OLD.account_id IS DISTINCT FROM NEW.account_id
            OR OLD.stack_id IS DISTINCT FROM NEW.stack_id)) THEN
        PERFORM stacksafe_revise_level(NEW.account_id, NEW.stack_id);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION stacksafe_secret_versions_revise() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    level RECORD;
BEGIN
    FOR level IN
        SELECT account_id, stack_id FROM secrets
        WHERE (TG_OP <> 'INSERT' AND id = OLD.secret_id)
            OR (TG_OP <> 'DELETE' AND id = NEW.secret_id)
    LOOP
        PERFORM stacksafe_revise_level(level.account_id, level.stack_id);
    END LOOP;
    RETURN NULL;
END $$;

CREATE FUNCTION stacksafe_revise_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET secrets_revision = {POSTGRESQL_NEW_REVISION};
    UPDATE stacks SET secrets_revision = {POSTGRESQL_NEW_REVISION};
    RETURN NULL;
END $$;

CREATE TRIGGER secrets_revise AFTER INSERT OR UPDATE OR DELETE ON secrets
    FOR EACH ROW EXECUTE FUNCTION stacksafe_secrets_revise();
CREATE TRIGGER secret_versions_revise AFTER INSERT OR UPDATE OR DELETE ON secret_versions
    FOR EACH ROW EXECUTE FUNCTION stacksafe_secret_versions_revise();
-- TRUNCATE runs no row triggers: every level changes.
CREATE TRIGGER secrets_revise_truncate AFTER TRUNCATE ON secrets
    FOR EACH STATEMENT EXECUTE FUNCTION stacksafe_revise_all();
CREATE TRIGGER secret_versions_revise_truncate AFTER TRUNCATE ON secret_versions
    FOR EACH STATEMENT EXECUTE FUNCTION stacksafe_revise_all();
"""


def upgrade() -> None:
    # A constant default, so SQLite adds the columns in place; every existing level then gets a
    # random revision of its own, and a new account or stack starts at '' until its first
    # secret (an empty level is the same content in any database).
    for table in ("accounts", "stacks"):
        op.add_column(
            table,
            sa.Column("secrets_revision", sa.String(32), nullable=False, server_default=""),
        )
    if op.get_bind().dialect.name == "postgresql":
        for table in ("accounts", "stacks"):
            op.execute(f"UPDATE {table} SET secrets_revision = {POSTGRESQL_NEW_REVISION}")
        op.execute(POSTGRESQL_FUNCTIONS)
        return
    for table in ("accounts", "stacks"):
        op.execute(f"UPDATE {table} SET secrets_revision = {SQLITE_NEW_REVISION}")
    for name, (when, rows, via_secret) in SQLITE_TRIGGERS.items():
        body = " ".join(_sqlite_revise(row, via_secret) for row in rows)
        op.execute(f"CREATE TRIGGER {name} {when} FOR EACH ROW BEGIN {body} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER secret_versions_revise_truncate ON secret_versions")
        op.execute("DROP TRIGGER secrets_revise_truncate ON secrets")
        op.execute("DROP TRIGGER secret_versions_revise ON secret_versions")
        op.execute("DROP TRIGGER secrets_revise ON secrets")
        op.execute("DROP FUNCTION stacksafe_revise_all()")
        op.execute("DROP FUNCTION stacksafe_secret_versions_revise()")
        op.execute("DROP FUNCTION stacksafe_secrets_revise()")
        op.execute("DROP FUNCTION stacksafe_revise_level(BIGINT, BIGINT)")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    for table in ("stacks", "accounts"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("secrets_revision")
