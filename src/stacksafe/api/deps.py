"""Request-scoped dependencies: the installation, and the authenticated, rate-limited principal."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from anyio import to_thread
from fastapi import Depends, Request, Response

from stacksafe.api.metrics.series import ApiMetrics
from stacksafe.api.pages import RenderedPages
from stacksafe.api.ratelimit import SlidingWindow
from stacksafe.core.access import Principal
from stacksafe.core.guessing import BadTokens
from stacksafe.core.installation import Installation
from stacksafe.core.principals import authenticate, authenticate_at_hand
from stacksafe.core.request_counts import RequestCounts
from stacksafe.core.workload.login import LoggedIn, login
from stacksafe.errors import Throttled, TooManyFailures, Unauthenticated

T = TypeVar("T")

__all__ = [
    "ApiState",
    "Caller",
    "InstallationDep",
    "StateDep",
    "authenticated",
    "authenticated_with",
    "bad_tokens_counted",
    "bearer_token",
    "caller",
    "counted",
    "login_counted",
]


@dataclass
class ApiState:
    installation: Installation
    per_token: SlidingWindow
    bad_tokens: BadTokens  # in the database: shared by every server
    # per_token's counts go to the database through this, about once a second when serving
    request_counts: RequestCounts
    # Bodies of secret lists, rendered once per level revision (api.pages).
    pages: RenderedPages
    # This app's metrics (api.metrics), also the installation's meter.
    metrics: ApiMetrics


def _state(request: Request) -> ApiState:
    state: ApiState = request.app.state.stacksafe
    return state


async def _installation(request: Request) -> Installation:
    return _state(request).installation


InstallationDep = Annotated[Installation, Depends(_installation)]


async def _api_state(request: Request) -> ApiState:
    return _state(request)  # async: a sync dependency would take a hop to the thread pool


StateDep = Annotated[ApiState, Depends(_api_state)]


async def caller(request: Request, response: Response) -> Principal:
    """The principal behind ``Authorization: Bearer <token>``, counted against its rate limit.

    On the event loop when the token's principal is at hand (core.principals
    .authenticate_at_hand), else in one hop to the thread pool, as a sync dependency would be:
    a write route's own hop is then the request's only one."""
    state = _state(request)
    authorization = request.headers.get("authorization", "")
    source_ip = request.client.host if request.client else None
    request_id = str(getattr(request.state, "request_id", ""))
    found = _at_hand(state, authorization, source_ip, request_id)
    if found is None:
        found = await to_thread.run_sync(authenticated, state, authorization, source_ip, request_id)
    principal, headers = found
    response.headers.update(headers)
    return principal


def _at_hand(
    state: ApiState, authorization: str, source_ip: str | None, request_id: str
) -> tuple[Principal, dict[str, str]] | None:
    """``authenticated`` when the principal is at hand; None, having counted nothing, else."""
    try:
        token = bearer_token(authorization)
    except Unauthenticated:
        return None
    principal = authenticate_at_hand(
        state.installation, token, source_ip=source_ip, request_id=request_id or uuid.uuid4().hex
    )
    return None if principal is None else (principal, counted(state, principal))


def authenticated(
    state: ApiState, authorization: str, source_ip: str | None, request_id: str
) -> tuple[Principal, dict[str, str]]:
    """``caller`` for any face that has the raw request parts (api.fast_path): the principal, and
    the rate-limit headers its response carries."""

    def check(token: str, request_id: str) -> tuple[Principal, None]:
        return authenticate(
            state.installation, token, source_ip=source_ip, request_id=request_id
        ), None

    principal, _, headers = authenticated_with(state, authorization, source_ip, request_id, check)
    return principal, headers


def authenticated_with(
    state: ApiState,
    authorization: str,
    source_ip: str | None,
    request_id: str,
    check: Callable[[str, str], tuple[Principal, T]],
) -> tuple[Principal, T, dict[str, str]]:
    """``authenticated`` with the token checked by ``check(token, request_id)``, which may
    read more in the same transaction (``core.principals.authenticate_for_stack``) and gives
    that back too: the throttles apply as for any token check.

    The token is checked first, always: a valid one is never refused for what others sent
    from its address. Only a failure is counted (core.guessing.BadTokens), and past the
    address's limit it is answered 429 instead of 401."""
    request_id = request_id or uuid.uuid4().hex
    token = bearer_token(authorization)
    principal, more = bad_tokens_counted(
        state, source_ip, request_id, lambda: check(token, request_id)
    )
    return principal, more, counted(state, principal)


def bad_tokens_counted(
    state: ApiState, source_ip: str | None, request_id: str, check: Callable[[], T]
) -> T:
    """``check()``, a token check; its ``Unauthenticated`` is counted against ``source_ip``
    (core.guessing.BadTokens), past whose limit it becomes ``Throttled``."""
    try:
        return check()
    except Unauthenticated:
        state.metrics.invalid_credential()
        try:
            state.bad_tokens.failed(source_ip or "unknown", request_id)
        except TooManyFailures:
            state.metrics.throttled("bad_tokens")
            raise
        raise


def login_counted(
    state: ApiState,
    role: str,
    jwt: str,
    *,
    method: str,
    source_ip: str | None,
    request_id: str,
) -> LoggedIn:
    """A workload's JWT login (core.workload.login), refused at once when its address is over
    the bad-credential limit, and counted against the address when refused (``LoginRefused`` is
    ``Unauthenticated``), so that guessing roles or replaying stolen JWTs is throttled like bad
    tokens. For both faces' logins (api.routes.auth, api.vault.auth)."""
    try:
        state.bad_tokens.check(source_ip or "unknown")
    except TooManyFailures:
        state.metrics.throttled("bad_tokens")
        raise
    return bad_tokens_counted(
        state,
        source_ip,
        request_id,
        lambda: login(
            state.installation,
            role,
            jwt,
            method=method,
            source_ip=source_ip,
            request_id=request_id or None,
        ),
    )


def bearer_token(authorization: str) -> str:
    """The token of ``Authorization: Bearer <token>``. Counts nothing."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send a token: Authorization: Bearer <token>")
    return token.strip()


def counted(state: ApiState, principal: Principal) -> dict[str, str]:
    """Count a request of ``principal`` against its rate limit: the headers its response
    carries, or ``Throttled``."""
    key = principal.token_uid or principal.name
    remaining = state.per_token.hit(key)
    if remaining is None:
        state.metrics.throttled("per_token")
        wait = state.per_token.reset_in(key)
        raise Throttled(
            f"rate limit of {state.per_token.limit} requests per hour reached; retry in {wait} s",
            retry_after=wait,
        )
    return {
        "X-RateLimit-Limit": str(state.per_token.limit),
        "X-RateLimit-Remaining": str(max(remaining, 0)),
    }


Caller = Annotated[Principal, Depends(caller)]
