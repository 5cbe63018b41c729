"""Deleted stacks and accounts keep their rows, marked: ``deleted_at`` and ``deleted_name``.

``stacks delete`` / ``accounts delete`` (core.deletion) used to delete a level's rows with it;
its history (which keys it had, every version's author, time and action) then lived on only in
the audit log. Now the level's row stays, marked deleted, and so do its secrets' rows and every
version row (each ciphertext emptied and marked destroyed first). What goes is what gives
access or could open anything: its roles, data keys, rotation policies and KV bookkeeping.

The row leaves the namespace: its ``name`` becomes a tombstone that no valid name can equal
(names cannot hold control characters: core.validation), the name it had moves to
``deleted_name``, and the unique constraints on names stay as they are, so the name is free for
a new stack or account at once. Both columns are added in place: a batch copy of ``stacks``
would drop 0009's triggers, and SQLite cannot drop a table's inline UNIQUE without one.

A stack marked deleted changes what a token may do as deleting it did (0009): the principals
revision moves on ``UPDATE OF deleted_at`` too.

The foreign keys refused any row that referred to a deleted level (a write that found a stack,
then committed after another deleted it: store.transactions maps the violation to "deleted
meanwhile"). The rows staying, triggers take that part over: a row of a table with a foreign
key to ``accounts`` or ``stacks`` that names a marked one is refused with the foreign-key
violation's own error (SQLSTATE 23503 on PostgreSQL, after waiting for the marking transaction as
a foreign key's check would: ``FOR KEY SHARE``; "FOREIGN KEY constraint failed" on SQLite).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# ruff: noqa: S608 - statements assembled from this file's own constants; no input reaches them

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

SQLITE_REVISE = "UPDATE principals_revision SET revision = lower(hex(randomblob(8))) WHERE id = 1"
_LEVELS = ("accounts", "stacks")


# The tables whose rows refer to a level, and the (parent table, column) pairs they refer by.
REFERRING = {
    "stacks": (("accounts", "account_id"),),
    "memberships": (("accounts", "account_id"),),
    "jwt_roles": (("accounts", "account_id"),),
    "oidc_group_roles": (("accounts", "account_id"),),
    "stack_roles": (("stacks", "stack_id"),),
    **dict.fromkeys(
        ("secrets", "data_keys", "level_writes", "kv_paths", "kv_versions"),
        (("accounts", "account_id"), ("stacks", "stack_id")),
    ),
}
POSTGRESQL_REFUSE = """
CREATE FUNCTION stacksafe_refuse_deleted_level() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  i integer := 0;
  parent bigint;
  gone boolean;
BEGIN
  WHILE i < TG_NARGS LOOP
    parent := (to_jsonb(NEW) ->> TG_ARGV[i + 1])::bigint;
    IF parent IS NOT NULL THEN
      EXECUTE format(
        'SELECT deleted_at IS NOT NULL FROM %I WHERE id = $1 FOR KEY SHARE', TG_ARGV[i]
      ) INTO gone USING parent;
      IF gone THEN
        RAISE EXCEPTION 'a row of % refers to a deleted row of %', TG_TABLE_NAME, TG_ARGV[i]
          USING ERRCODE = 'foreign_key_violation';
      END IF;
    END IF;
    i := i + 2;
  END LOOP;
  RETURN NEW;
END
$$
"""


def upgrade() -> None:
    for table in _LEVELS:
        op.add_column(table, sa.Column("deleted_at", sa.DateTime(), nullable=True))
        op.add_column(table, sa.Column("deleted_name", sa.String(255), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _replace_postgresql_trigger("UPDATE OF id, account_id, deleted_at")
        op.execute(POSTGRESQL_REFUSE)
        schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
        quoted = bind.dialect.identifier_preparer.quote(schema)
        op.execute(f"ALTER FUNCTION stacksafe_refuse_deleted_level() SET search_path = {quoted}")
        for table, parents in REFERRING.items():
            columns = ", ".join(column for _, column in parents)
            arguments = ", ".join(f"'{name}'" for pair in parents for name in pair)
            op.execute(
                f"CREATE TRIGGER {table}_refuse_deleted_level"
                f" BEFORE INSERT OR UPDATE OF {columns} ON {table}"
                f" FOR EACH ROW EXECUTE FUNCTION stacksafe_refuse_deleted_level({arguments})"
            )
        return
    op.execute(
        "CREATE TRIGGER stacks_revise_principals_deleted AFTER UPDATE OF deleted_at ON stacks"
        f" FOR EACH ROW BEGIN {SQLITE_REVISE}; END"
    )
    for name, when, table, parent, column in _sqlite_refusals():
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {when} ON {table} FOR EACH ROW"
            f" WHEN (SELECT deleted_at FROM {parent} WHERE id = NEW.{column}) IS NOT NULL"
            " BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END"
        )


def _sqlite_refusals() -> list[tuple[str, str, str, str, str]]:
    """(trigger name, event, table, parent table, column) of each refusal on SQLite."""
    return [
        (f"{table}_{column}_{event}_refuse_deleted", when, table, parent, column)
        for table, parents in REFERRING.items()
        for parent, column in parents
        for event, when in (("insert", "INSERT"), ("update", f"UPDATE OF {column}"))
    ]


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in REFERRING:
            op.execute(f"DROP TRIGGER {table}_refuse_deleted_level ON {table}")
        op.execute("DROP FUNCTION stacksafe_refuse_deleted_level()")
    else:
        for name, *_ in _sqlite_refusals():
            op.execute(f"DROP TRIGGER {name}")
    # The deleted levels' rows would come back as live levels under their tombstone names, with
    # no values and no roles: delete them (children first), as core.deletion did before 0017.
    for statement in _DELETE_MARKED:
        op.execute(statement)
    if bind.dialect.name == "postgresql":
        _replace_postgresql_trigger("UPDATE OF id, account_id")
    else:
        op.execute("DROP TRIGGER stacks_revise_principals_deleted")
    for table in _LEVELS:
        # In place (SQLite 3.35+ drops a plain column itself), keeping the triggers.
        op.drop_column(table, "deleted_name")
        op.drop_column(table, "deleted_at")


def _replace_postgresql_trigger(updates: str) -> None:
    op.execute("DROP TRIGGER stacks_revise_principals ON stacks")
    op.execute(
        "CREATE TRIGGER stacks_revise_principals"
        f" AFTER {updates} OR DELETE OR TRUNCATE ON stacks"
        " FOR EACH STATEMENT EXECUTE FUNCTION stacksafe_revise_principals()"
    )


_MARKED_STACKS = "SELECT id FROM stacks WHERE deleted_at IS NOT NULL"
_MARKED_ACCOUNTS = "SELECT id FROM accounts WHERE deleted_at IS NOT NULL"
_MARKED_SECRETS = (
    f"SELECT id FROM secrets WHERE stack_id IN ({_MARKED_STACKS})"
    f" OR (stack_id IS NULL AND account_id IN ({_MARKED_ACCOUNTS}))"
)
_DELETE_MARKED = (
    f"DELETE FROM secret_versions WHERE secret_id IN ({_MARKED_SECRETS})",
    f"DELETE FROM secrets WHERE id IN ({_MARKED_SECRETS})",
    f"DELETE FROM stacks WHERE id IN ({_MARKED_STACKS})",
    f"DELETE FROM accounts WHERE id IN ({_MARKED_ACCOUNTS})",
)
