"""`GET /metrics`: the server's metrics in Prometheus's text format, for the server owner."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stacksafe.api.deps import Caller, StateDep
from stacksafe.core.guard import require_owner

__all__ = ["ONLY_OWNER", "router"]

ONLY_OWNER = "only the server owner may read the server's metrics, with an admin-scoped token"

router = APIRouter(tags=["health"])


# Not in the OpenAPI document, which describes /api/3 (as /healthz is the operator's, not a
# client's): Prometheus's text format is its own specification.
@router.get("/metrics", response_class=Response, include_in_schema=False)
def metrics(state: StateDep, caller: Caller) -> Response:
    """Every series of this server process (docs/operations.md "Metrics"). The server
    owner's token, with the ``admin`` scope and narrowed to no stack: the series count every
    account's requests. An unauthenticated listener of its own: ``serve --metrics-address``."""
    require_owner(state.installation, caller, "metrics.read", ONLY_OWNER, admin_scope=True)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
