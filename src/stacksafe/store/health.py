"""Probes of the database for readiness: it answers, and the audit log takes a row."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import text

from stacksafe.store import audit as audit_queries
from stacksafe.store.transactions import Store

__all__ = ["answers", "takes_audit_row"]

_SELECT_ONE = text("SELECT 1")


def answers(store: Store) -> None:
    """Run the smallest query there is; raises what the database or its driver raised."""
    with store.read() as conn:
        conn.execute(_SELECT_ONE)


def takes_audit_row(store: Store, genesis: bytes, row: Mapping[str, object]) -> None:
    """Take the audit head's lock as an append does, insert ``row``, then roll back: raises
    what an append would meet (a lock, a trigger, a permission, a full disk)."""
    with store.engine.connect() as conn:
        conn = conn.execution_options(stacksafe_write=True)
        with conn.begin() as transaction:
            audit_queries.lock_head(conn, genesis)
            audit_queries.insert_events(conn, [dict(row)])
            transaction.rollback()
