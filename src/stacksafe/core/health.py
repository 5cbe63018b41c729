"""Readiness: the database answers, the master key is loaded, and the audit log takes appends."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from stacksafe.core.audit import GENESIS
from stacksafe.core.vault import Vault
from stacksafe.store import audit as audit_queries

__all__ = ["readiness"]

# A row as an append writes one (rolled back at once): it meets every trigger and permission.
_PROBE = {
    "seq": -1,
    "at": datetime(2000, 1, 1, tzinfo=UTC),
    "actor": "readyz",
    "token_uid": None,
    "source_ip": None,
    "request_id": None,
    "action": "probe",
    "outcome": "ok",
    "account_uid": None,
    "stack_uid": None,
    "detail": "{}",
    "prev_hash": GENESIS,
    "hash": GENESIS,
    "detail_digest": None,
}


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
                audit_queries.insert_events(conn, [_PROBE])
                transaction.rollback()
        checks["audit"] = "ok"
    except Exception as exc:
        checks["audit"] = f"not writable ({type(exc).__name__})"
    return checks
