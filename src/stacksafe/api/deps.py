"""Request-scoped dependencies: the vault, and the authenticated, rate-limited principal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response

from stacksafe.api.ratelimit import SlidingWindow
from stacksafe.core.access import Principal
from stacksafe.core.principals import authenticate
from stacksafe.core.vault import Vault
from stacksafe.errors import Throttled, Unauthenticated

__all__ = ["ApiState", "Caller", "VaultDep", "caller"]


@dataclass
class ApiState:
    vault: Vault
    per_token: SlidingWindow
    bad_tokens: SlidingWindow


def _state(request: Request) -> ApiState:
    state: ApiState = request.app.state.stacksafe
    return state


async def _vault(request: Request) -> Vault:
    return _state(request).vault


VaultDep = Annotated[Vault, Depends(_vault)]


def caller(request: Request, response: Response) -> Principal:
    """The principal behind ``Authorization: Bearer <token>``, counted against its rate limit."""
    state = _state(request)
    source_ip = request.client.host if request.client else None
    request_id = str(getattr(request.state, "request_id", "")) or uuid.uuid4().hex
    address = source_ip or "unknown"
    if state.bad_tokens.exceeded(address):
        raise Throttled("too many requests with invalid tokens from this address; wait and retry")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send a token: Authorization: Bearer <token>")
    try:
        principal = authenticate(
            state.vault, token.strip(), source_ip=source_ip, request_id=request_id
        )
    except Unauthenticated:
        state.bad_tokens.hit(address)
        raise
    key = principal.token_uid or principal.name
    remaining = state.per_token.hit(key)
    response.headers["X-RateLimit-Limit"] = str(state.per_token.limit)
    response.headers["X-RateLimit-Remaining"] = str(max(remaining or 0, 0))
    if remaining is None:
        raise Throttled(
            f"rate limit of {state.per_token.limit} requests per hour reached; "
            f"retry in {state.per_token.reset_in(key)} s"
        )
    return principal


Caller = Annotated[Principal, Depends(caller)]
