"""On PostgreSQL, a level's revision changes once per transaction, not once per row written.

0007's row triggers updated the level's row for every secret or version row inserted, updated or
deleted. PostgreSQL keeps every version of a row a transaction writes, so one transaction
writing n rows of a level (an import, a bulk load, thousands of versions pruned) made n versions
of that level's row, each update finding its way past the earlier ones: quadratic. 70,000
versions written in one transaction took over eight minutes (SQLite, which updates in place, took
three seconds).

One new revision per transaction is all readers need: they only ever see committed revisions, so
the level's revision differs from every one they could have seen as soon as the transaction
changes it once. The function marks a level it revised in a transaction-local setting
(``stacksafe.revised_s<id>`` / ``_a<id>``, reset at commit, undone by a rolled-back savepoint)
holding the transaction's 64-bit id, and skips the update when the mark is this transaction's.
Not the row's ``xmin``: any other update of the level's row earlier in the transaction (plain SQL
maintenance) would set it without changing the revision, and a 32-bit ``xmin`` frozen long ago
can equal a transaction id after wraparound; a reviewer reproduced both. Each level a pooled
connection revised leaves one small placeholder setting in that backend.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

# ruff: noqa: S608 - function DDL assembled from this file's own constants and a quoted name
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NEW_REVISION = "substr(md5(random()::text || clock_timestamp()::text), 1, 16)"


def _revise_level(once: bool) -> str:
    if not once:  # as 0007 made it
        return f"""
CREATE OR REPLACE FUNCTION stacksafe_revise_level(p_account BIGINT, p_stack BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_stack IS NULL THEN
        UPDATE accounts SET secrets_revision = {NEW_REVISION} WHERE id = p_account;
    ELSE
        UPDATE stacks SET secrets_revision = {NEW_REVISION} WHERE id = p_stack;
    END IF;
END $$;
"""
    return f"""
CREATE OR REPLACE FUNCTION stacksafe_revise_level(p_account BIGINT, p_stack BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    mark text := 'stacksafe.revised_' || COALESCE('s' || p_stack, 'a' || p_account);
    this text := txid_current()::text;
BEGIN
    IF current_setting(mark, true) IS NOT DISTINCT FROM this THEN
        RETURN;
    END IF;
    IF p_stack IS NULL THEN
        UPDATE accounts SET secrets_revision = {NEW_REVISION} WHERE id = p_account;
    ELSE
        UPDATE stacks SET secrets_revision = {NEW_REVISION} WHERE id = p_stack;
    END IF;
    PERFORM set_config(mark, this, true);
END $$;
"""


def _replace(once: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite updates a row in place: nothing grows
    # CREATE OR REPLACE resets the function's settings: pin it to its schema again (0009).
    schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    quoted = bind.dialect.identifier_preparer.quote(schema)
    op.execute(_revise_level(once))
    op.execute(f"ALTER FUNCTION stacksafe_revise_level(BIGINT, BIGINT) SET search_path = {quoted}")


def upgrade() -> None:
    _replace(once=True)


def downgrade() -> None:
    _replace(once=False)
