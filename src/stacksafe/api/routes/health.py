"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from stacksafe.api.deps import InstallationDep
from stacksafe.core.health import readiness
from stacksafe.core.streams.sinks import readiness_of_sinks

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(installation: InstallationDep) -> JSONResponse:
    """Database reachable, master key loaded, audit log writable (and, when
    STACKSAFE_AUDIT_SINK_MAX_LAG is set, no audit sink lagging more): 200; else 503 and why.
    The body gives every audit sink's lag."""
    checks = readiness(installation)
    sinks, lagging = readiness_of_sinks(installation)
    if installation.audit_sink_max_lag is not None:
        checks["audit_sinks"] = lagging
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks, "audit_sinks": sinks},
        status_code=200 if ready else 503,
    )
