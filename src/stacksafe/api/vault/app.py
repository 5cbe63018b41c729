"""The Vault-compatible face under ``/v1``: routing, the token, errors (docs/vault-compat.md).

An ASGI app of its own (mounted by api.app) rather than FastAPI routes: Vault has its own error
body, a ``LIST`` method, and answers ``no handler for route`` for anything it does not serve,
all of which FastAPI's validation and error handlers would get in the way of. Every request is
authenticated like the native API's (the same tokens, the same bad-token throttle and per-token
rate limit), then handled in a thread by api.vault.kv or api.vault.system, which call the core.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from stacksafe.api.deps import ApiState, bad_tokens_counted, counted
from stacksafe.api.vault.envelope import errors
from stacksafe.core.access import Principal
from stacksafe.core.kv.paths import PERMISSION_DENIED
from stacksafe.core.kv.reads import VersionGone
from stacksafe.core.principals import authenticate
from stacksafe.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    StacksafeError,
    Throttled,
    Unauthenticated,
)

__all__ = ["Call", "VaultApi"]

ROOT_NAMESPACES = frozenset({"", "root", "/", "root/"})


@dataclass
class Call:
    """One request as a handler sees it."""

    state: ApiState
    method: str  # LIST for GET ?list=true
    path: str  # after /v1/, without the leading slash
    query: Mapping[str, str]
    body: Any = field(repr=False)
    content_type: str
    request_id: str
    principal: Principal = field(repr=False)
    token: str = field(repr=False, default="")


Handler = Callable[[Call], Response]


class VaultApi:
    """``/v1``: ``route(call)`` picks the handler (api.vault.routes)."""

    def __init__(self, state: ApiState, route: Callable[[Call], Handler | None]) -> None:
        self._state = state
        self._route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self._answer(request)
        await response(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        path = request.url.path.split("/v1/", 1)[-1] if "/v1/" in request.url.path else ""
        method = request.method.upper()
        request_id = str(getattr(request.state, "request_id", "") or uuid.uuid4())
        refused = _refused_headers(request)
        if refused is not None:
            return refused
        if path in ("sys/health", "sys/health/") and method in ("GET", "HEAD"):
            from stacksafe.api.vault.system import health

            return health(method == "HEAD")
        if method == "GET" and request.query_params.get("list", "").lower() == "true":
            method = "LIST"
        body: Any = None
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                return errors(400, ["failed to parse JSON input: the body is not valid JSON"])
        token = _token(request)
        source_ip = request.client.host if request.client else None
        try:
            principal, headers = await to_thread.run_sync(
                self._authenticated, token, source_ip, request_id
            )
        except StacksafeError as exc:
            return error_response(exc)
        call = Call(
            self._state,
            method,
            path,
            dict(request.query_params),
            body,
            request.headers.get("content-type", ""),
            request_id,
            principal,
            token,
        )
        handler = self._route(call)
        if handler is None:
            return errors(404, [f'no handler for route "{path}". route entry not found.'])
        try:
            response = await to_thread.run_sync(handler, call)
        except StacksafeError as exc:
            response = error_response(exc)
        response.headers.update(headers)
        return response

    def _authenticated(
        self, token: str, source_ip: str | None, request_id: str
    ) -> tuple[Principal, dict[str, str]]:
        state = self._state

        def check() -> Principal:
            if not token:
                raise Unauthenticated(PERMISSION_DENIED)
            return authenticate(
                state.installation, token, source_ip=source_ip, request_id=request_id
            )

        principal = bad_tokens_counted(state, source_ip, request_id, check)
        return principal, counted(state, principal)


def _token(request: Request) -> str:
    token = request.headers.get("x-vault-token", "").strip()
    if token:
        return token
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _refused_headers(request: Request) -> Response | None:
    namespace = request.headers.get("x-vault-namespace")
    if namespace is not None and namespace.strip() not in ROOT_NAMESPACES:
        return errors(404, ["namespace not found"])
    if request.headers.get("x-vault-wrap-ttl"):
        return errors(400, ["response wrapping is not supported"])
    return None


def error_response(exc: StacksafeError) -> Response:
    """Vault's answer to ``exc``: 403 ``permission denied`` for any token or permission
    refusal (never 401: hvac treats 401 as an error even when asking "am I authenticated"),
    429 for a rate limit, 404 with the version's metadata for a deleted version."""
    if isinstance(exc, Throttled):
        wait = exc.retry_after
        headers = {} if wait is None else {"Retry-After": str(wait)}
        return errors(429, ["rate limit quota exceeded"], headers)
    if isinstance(exc, Unauthenticated):
        return errors(403, [PERMISSION_DENIED])
    if isinstance(exc, Forbidden):
        reason = [] if exc.message == PERMISSION_DENIED else [exc.message]
        return errors(403, [PERMISSION_DENIED, *reason])
    if isinstance(exc, VersionGone):
        from stacksafe.api.vault.kv import gone_response

        return gone_response(exc)
    if isinstance(exc, NotFound):
        return errors(404, [exc.message] if exc.message else [])
    if isinstance(exc, InvalidInput):
        return errors(400, [exc.message])
    headers = {}
    retry = getattr(exc, "retry_after", None)
    if exc.http_status == 503:
        headers["Retry-After"] = str(retry or 2)
    return errors(exc.http_status, [exc.message], headers)
