"""The Vault-compatible face under ``/v1``: routing, the token, errors (docs/vault-compat.md).

An ASGI app of its own, which api.app calls in front of FastAPI and its middleware for every
``/v1/`` request: Vault has its own error body, a ``LIST`` method, and answers ``no handler
for route`` for anything it does not serve, all of which FastAPI's validation and error
handlers would get in the way of; and the hottest KV request (a stack path's latest version)
is answered like the native list (api.fast_path): on the event loop when everything is at
hand. So it does what the middleware does for the rest: the ``Request-Id``, ``Cache-Control:
no-store``, the body size limit. Every request is authenticated like the native API's (the
same tokens, bad-token throttle and per-token rate limit), then handled in a thread by
api.vault.kv or api.vault.system, which call the core.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from anyio import to_thread
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from stacksafe.api.asgi_answer import answer_asgi
from stacksafe.api.deps import ApiState, bad_tokens_counted, counted
from stacksafe.api.vault.auth import login_handler
from stacksafe.api.vault.envelope import errors, gone_response
from stacksafe.api.vault.health import health
from stacksafe.core.access import Principal
from stacksafe.core.kv.paths import PERMISSION_DENIED
from stacksafe.core.kv.reads import VersionGone
from stacksafe.core.kv.writes import NothingToPatch
from stacksafe.core.principals import authenticate
from stacksafe.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    StacksafeError,
    Throttled,
    Unauthenticated,
)

__all__ = ["AtHand", "Call", "Handler", "VaultApi", "error_response"]

log = logging.getLogger("stacksafe.api")

ROOT_NAMESPACES = frozenset({"", "root", "/", "root/"})
PREFIX = "/v1/"


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
    source_ip: str | None = None


Handler = Callable[[Call], Response]


@dataclass(frozen=True)
class Asked:
    """A request before its token is checked: what an at-hand answer may look at."""

    method: str
    path: str
    query: Mapping[str, str]
    token: str = field(repr=False)
    source_ip: str | None
    request_id: str


# An answer on the event loop when everything it needs is at hand (api.vault.kv.at_hand), or
# None: the request goes the usual way, in a thread, having been counted nowhere.
AtHand = Callable[[ApiState, Asked], Awaitable[Response | None]]


class VaultApi:
    """``/v1``: ``route(call)`` picks the handler (api.vault.routes)."""

    def __init__(
        self,
        state: ApiState,
        route: Callable[[Call], Handler | None],
        max_body_bytes: int,
        at_hand: AtHand | None = None,
    ) -> None:
        self._state = state
        self._route = route
        self._max_body = max_body_bytes
        self._at_hand = at_hand

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        def failed(exc: Exception, request_id: str) -> Response:
            # The message may quote data: the type only, where, and the request's id.
            log.error(
                "unexpected %s on %s %s (request %s)",
                type(exc).__name__,
                scope["method"],
                PREFIX,
                request_id,
            )
            return errors(500, ["internal error; the operator can find the request id"])

        await answer_asgi(
            scope,
            receive,
            send,
            lambda request_id: self._answer(scope, receive, request_id),
            failed,
        )

    async def _answer(self, scope: Scope, receive: Receive, request_id: str) -> Response:
        path = scope["path"][len(PREFIX) :] if scope["path"].startswith(PREFIX) else ""
        method = scope["method"].upper()
        headers = _headers(scope)
        refused = _refused_headers(headers)
        if refused is not None:
            return refused
        if path in ("sys/health", "sys/health/") and method in ("GET", "HEAD"):
            return health(method == "HEAD")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if method == "GET" and query.get("list", "").lower() == "true":
            method = "LIST"
        client = scope.get("client")
        asked = Asked(
            method, path, query, _token(headers), client[0] if client else None, request_id
        )
        bodiless = "content-length" not in headers and "transfer-encoding" not in headers
        if self._at_hand is not None and bodiless:
            answered = await self._at_hand(self._state, asked)
            if answered is not None:
                return answered
        raw = await _body(receive, headers, self._max_body)
        if raw is None:
            return errors(413, [f"the request body is over {self._max_body} bytes"])
        body: Any = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError):
                return errors(400, ["failed to parse JSON input: the body is not valid JSON"])
        login = login_handler(path, method)
        if login is not None:
            try:
                return await to_thread.run_sync(
                    login, self._state, body, asked.source_ip, request_id
                )
            except StacksafeError as exc:
                return error_response(exc, request_id)
        try:
            principal, limits = await to_thread.run_sync(self._authenticated, asked)
        except StacksafeError as exc:
            return error_response(exc, request_id)
        call = Call(
            self._state,
            method,
            path,
            query,
            body,
            headers.get("content-type", ""),
            request_id,
            principal,
            asked.token,
            asked.source_ip,
        )
        handler = self._route(call)
        if handler is None:
            return errors(404, [f'no handler for route "{path}". route entry not found.'])
        try:
            response = await to_thread.run_sync(handler, call)
        except StacksafeError as exc:
            response = error_response(exc, request_id)
        response.headers.update(limits)
        return response

    def _authenticated(self, asked: Asked) -> tuple[Principal, dict[str, str]]:
        state = self._state

        def check() -> Principal:
            if not asked.token:
                raise Unauthenticated(PERMISSION_DENIED)
            return authenticate(
                state.installation,
                asked.token,
                source_ip=asked.source_ip,
                request_id=asked.request_id,
            )

        principal = bad_tokens_counted(state, asked.source_ip, asked.request_id, check)
        return principal, counted(state, principal)


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (the first of each, as Starlette gives it)."""
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return found


async def _body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes | None:
    """The request body, or None when it is over ``limit`` bytes (read no further)."""
    declared = headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _token(headers: Mapping[str, str]) -> str:
    token = headers.get("x-vault-token", "").strip()
    if token:
        return token
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _refused_headers(headers: Mapping[str, str]) -> Response | None:
    namespace = headers.get("x-vault-namespace")
    if namespace is not None and namespace.strip() not in ROOT_NAMESPACES:
        return errors(404, ["namespace not found"])
    if headers.get("x-vault-wrap-ttl"):
        return errors(400, ["response wrapping is not supported"])
    return None


def error_response(exc: StacksafeError, request_id: str = "") -> Response:
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
        return gone_response(exc, request_id)
    if isinstance(exc, NothingToPatch):
        return Response(status_code=404)  # as Vault: no body at all
    if isinstance(exc, NotFound):
        return errors(404, [exc.message] if exc.message else [])
    if isinstance(exc, InvalidInput):
        return errors(400, [exc.message])
    headers = {}
    retry = getattr(exc, "retry_after", None)
    if exc.http_status == 503:
        headers["Retry-After"] = str(retry or 2)
    return errors(exc.http_status, [exc.message], headers)
