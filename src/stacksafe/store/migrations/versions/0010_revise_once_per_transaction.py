"""On PostgreSQL, a level's revision changes once per transaction, not once per row written.

0007's row triggers updated the level's row for every secret or version row inserted, updated or
deleted. PostgreSQL keeps every version of a row a transaction writes, so one transaction
writing n rows of a level (an import, a bulk load, thousands of versions pruned) made n versions
of that level's row, each update finding its way past the earlier ones: quadratic. 70,000
versions written in one transaction took over eight minutes (SQLite, which updates in place, took
three seconds).

One new revision per transaction is all readers need: they only ever see committed revisions, so
the level's revision differs from every one they could have seen as soon as the transaction
changes it once. The row's ``xmin`` says which transaction wrote its current version: if it is
this one, the revision is already new. Except a level still at ``''`` (created in this very
transaction): that is the revision of an empty level, so it is changed (once) all the same.

The test is exact: a row version not written by a running transaction has an ``xmin`` within 2^31
transactions of the current one, so only this transaction's own versions match it, and a frozen
row version reads as ``xmin`` 2 (FrozenTransactionId), never a transaction's id. A write inside a
savepoint has the savepoint's id and simply changes the revision again.

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
# The current transaction's id as xmin shows it (32 bits, no epoch).
THIS_TRANSACTION = "(txid_current() % 4294967296)::text"


def _revise_level(once: bool) -> str:
    only_once = f" AND (xmin::text <> {THIS_TRANSACTION} OR secrets_revision = '')" if once else ""
    return f"""
CREATE OR REPLACE FUNCTION stacksafe_revise_level(p_account BIGINT, p_stack BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_stack IS NULL THEN
        UPDATE accounts SET secrets_revision = {NEW_REVISION} WHERE id = p_account{only_once};
    ELSE
        UPDATE stacks SET secrets_revision = {NEW_REVISION} WHERE id = p_stack{only_once};
    END IF;
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
