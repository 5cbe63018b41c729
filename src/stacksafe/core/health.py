"""Readiness: the database answers, the master key is loaded, and the audit log takes appends."""

from __future__ import annotations

from sqlalchemy import text

from stacksafe.core.audit import GENESIS
from stacksafe.core.vault import Vault
from stacksafe.store import audit as audit_queries

__all__ = ["readiness"]


def readiness(vault: Vault) -> dict[str, str]:
    """Each check's state: "ok" or what is wrong (never an exception)."""
    checks: dict[str, str] = {}
    try:
        with vault.store.read() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable ({type(exc).__name__})"
    checks["master_key"] = "ok" if vault.data_keys.keyring.versions else "missing"
    try:
        # Take the audit head's lock as an append does, then roll back: reveals and writes are
        # refused when this fails, so readiness must say so.
        with vault.store.engine.connect() as conn:
            conn = conn.execution_options(stacksafe_write=True)
            with conn.begin() as transaction:
                audit_queries.lock_head(conn, GENESIS)
                transaction.rollback()
        checks["audit"] = "ok"
    except Exception as exc:
        checks["audit"] = f"not writable ({type(exc).__name__})"
    return checks
