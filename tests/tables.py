"""The tables an operation may change (everything but the audit log), read raw, in key order:
what "nothing changed" is checked against."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table

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
    """Every row of ``table`` as the database driver returns it, in primary-key order, read in
    ``conn``'s transaction. Straight from the driver's cursor: the access tests compare every
    table before and after thousands of requests, and SQLAlchemy's rows took most of their time;
    a stored value compares the same either way."""
    order = ", ".join(column.name for column in table.primary_key.columns)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"SELECT * FROM {table.name} ORDER BY {order}")  # noqa: S608 - names from the schema
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()
