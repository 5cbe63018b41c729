"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from stacksafe.api.deps import VaultDep
from stacksafe.store import audit as audit_queries

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(vault: VaultDep) -> JSONResponse:
    """Database reachable, master key loaded, audit log writable: 200; else 503 and why."""
    checks: dict[str, str] = {}
    try:
        with vault.store.read() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable ({type(exc).__name__})"
    checks["master_key"] = "ok" if vault.data_keys.keyring.versions else "missing"
    try:
        # Take the audit head's lock as an append would, then roll back.
        with vault.store.engine.connect() as conn:
            conn = conn.execution_options(stacksafe_write=True)
            with conn.begin() as tx:
                audit_queries.lock_head(conn, b"\x00" * 32)
                tx.rollback()
        checks["audit"] = "ok"
    except Exception as exc:
        checks["audit"] = f"not writable ({type(exc).__name__})"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
