"""``/auth/jwt/login``: a workload exchanges its JWT for a short-lived token (docs/identity.md).

The one route that takes no token: it is how a CI job or a pod gets one. Refused logins are
401 with the check that failed, counted against the address like bad tokens.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from stacksafe.api.deps import StateDep, login_counted
from stacksafe.api.routes import API_PREFIX
from stacksafe.api.schemas import Envelope, JwtLoggedIn, JwtLogin
from stacksafe.model import iso8601

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX, tags=["auth"])


@router.post("/auth/jwt/login", response_model=Envelope[JwtLoggedIn])
def jwt_login(body: JwtLogin, request: Request, state: StateDep) -> Envelope[JwtLoggedIn]:
    """Log in with a JWT under a role: a token narrowed as the role says, expiring after its
    ttl. No ``Authorization`` header: the JWT is the credential."""
    source_ip = request.client.host if request.client else None
    request_id = str(getattr(request.state, "request_id", ""))
    logged = login_counted(
        state, body.role, body.jwt, method="jwt", source_ip=source_ip, request_id=request_id
    )
    return Envelope[JwtLoggedIn](
        response=JwtLoggedIn(
            token=logged.token,
            id=logged.uid,
            role=logged.role,
            account_id=logged.account_uid,
            scopes=list(logged.scopes),
            stacks=None if logged.stack_uids is None else list(logged.stack_uids),
            environments=None if logged.environments is None else list(logged.environments),
            ttl_seconds=logged.ttl_seconds,
            expires_at_iso=iso8601(logged.expires_at),
        )
    )
