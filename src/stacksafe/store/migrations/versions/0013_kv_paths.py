"""Path versions for the Vault-compatible API: level writes, KV metadata and version flags.

KV v2 numbers versions per path; stacksafe versions keys per level. A stack path's data changes
when its own level or its account's changes, so its version counts both (docs/vault-compat.md).
``level_writes`` holds one row per write transaction per level (and one per created stack);
``secret_versions.level_write_id`` says which write made each key version, so that version N of
a path can be rebuilt exactly. ``kv_paths`` holds a level's KV metadata, ``kv_versions`` the
soft deletes and destroys the KV API made of a path's versions.

History written before this revision is matched to writes here: the versions of one level with
the same ``created_at`` (one transaction's clock reading) are one write, in time order, and each
existing stack gets its creation row, counted when its account had written anything by then.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

# ruff: noqa: S608 - one clause chosen from two of this file's constants; values are bound
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _level_table(name: str, *columns: sa.Column[Any]) -> None:
    op.create_table(
        name,
        sa.Column("id", _Id, nullable=False),
        sa.Column("account_id", _Id, nullable=False),
        sa.Column("stack_id", _Id, nullable=True),
        *columns,
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f(f"fk_{name}_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["stack_id"], ["stacks.id"], name=op.f(f"fk_{name}_stack_id_stacks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )


def _per_level_unique(name: str, *columns: str) -> None:
    for level, where in (("account", "stack_id IS NULL"), ("stack", "stack_id IS NOT NULL")):
        op.create_index(
            f"uq_{name}_{level}_level",
            name,
            [f"{level}_id", *columns],
            unique=True,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def upgrade() -> None:
    _level_table(
        "level_writes",
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_level_writes_stack_id", "level_writes", ["stack_id", "id"])
    op.create_index("ix_level_writes_account_id", "level_writes", ["account_id", "stack_id", "id"])
    _level_table(
        "kv_paths",
        sa.Column("custom_metadata", sa.Text(), nullable=False),
        sa.Column("cas_required", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    _per_level_unique("kv_paths")
    _level_table(
        "kv_versions",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("destroyed", sa.Boolean(), nullable=False),
    )
    _per_level_unique("kv_versions", "version")
    with op.batch_alter_table("secret_versions") as batch:
        batch.add_column(sa.Column("level_write_id", _Id, nullable=True))
    _match_history(op.get_bind())


def _match_history(bind: sa.Connection) -> None:
    """Level writes for the history already stored (see the module)."""
    writes = bind.execute(
        sa.text(
            "SELECT s.account_id, s.stack_id, v.created_at FROM secret_versions v"
            " JOIN secrets s ON s.id = v.secret_id"
            " GROUP BY s.account_id, s.stack_id, v.created_at"
        )
    ).all()
    stacks = bind.execute(sa.text("SELECT id, account_id, created_at FROM stacks")).all()
    # (time, order at that time, account, stack, is a creation): a stack's creation comes
    # before writes stamped with the same moment.
    events: list[tuple[datetime, int, int, int | None, bool]] = [
        (at, 1, account, stack, False) for account, stack, at in writes
    ]
    events += [(at, 0, account, stack, True) for stack, account, at in stacks]
    events.sort(key=lambda e: (str(e[0]), e[1], e[2], e[3] or 0))
    written: set[int] = set()  # accounts whose own level has a write so far
    level_writes = sa.table(
        "level_writes",
        sa.column("id"),
        sa.column("account_id"),
        sa.column("stack_id"),
        sa.column("at"),
        sa.column("counted"),
    )
    for number, (at, _, account, stack, created) in enumerate(events, start=1):
        counted = not created or account in written
        bind.execute(
            level_writes.insert().values(
                id=number, account_id=account, stack_id=stack, at=at, counted=counted
            )
        )
        if created:
            continue
        if stack is None:
            written.add(account)
        level = "s.stack_id IS NULL" if stack is None else "s.stack_id = :stack"
        bind.execute(
            sa.text(
                "UPDATE secret_versions SET level_write_id = :write"
                " WHERE created_at = :at AND secret_id IN"
                f" (SELECT s.id FROM secrets s WHERE s.account_id = :account AND {level})"
            ),
            {"write": number, "at": at, "account": account, "stack": stack},
        )
    if events and bind.dialect.name == "postgresql":
        bind.execute(
            sa.text("SELECT setval(pg_get_serial_sequence('level_writes', 'id'), :last)"),
            {"last": len(events)},
        )


def downgrade() -> None:
    with op.batch_alter_table("secret_versions") as batch:
        batch.drop_column("level_write_id")
    for name in ("kv_versions", "kv_paths"):
        for level in ("account", "stack"):
            op.drop_index(f"uq_{name}_{level}_level", table_name=name)
        op.drop_table(name)
    op.drop_index("ix_level_writes_account_id", table_name="level_writes")
    op.drop_index("ix_level_writes_stack_id", table_name="level_writes")
    op.drop_table("level_writes")
