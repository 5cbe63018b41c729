"""The tables an operation may change (everything but the audit log), read raw, in key order:
what "nothing changed" is checked against."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, select

from stacksafe.store.schema import (
    accounts,
    data_keys,
    kv_paths,
    kv_versions,
    level_writes,
    memberships,
    rotation_policies,
    secret_versions,
    secrets,
    stack_roles,
    stacks,
    tokens,
    users,
)

CHANGEABLE_TABLES: tuple[Table, ...] = (
    accounts,
    stacks,
    secrets,
    secret_versions,
    rotation_policies,
    data_keys,
    users,
    memberships,
    stack_roles,
    tokens,
    level_writes,
    kv_paths,
    kv_versions,
)


def raw_rows(conn: Connection, table: Table) -> list[tuple[Any, ...]]:
    query = select(table).order_by(*table.primary_key.columns)
    return [tuple(row) for row in conn.execute(query)]
