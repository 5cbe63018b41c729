"""Errors to HTTP: the Cloud66 error body, with the status each error class carries
(``StacksafeError.http_status``, stacksafe.errors)."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from stacksafe.api.request_id import request_id_of
from stacksafe.errors import StacksafeError, Throttled

__all__ = [
    "RETRY_AFTER_BY_CODE",
    "error_response",
    "install_error_handlers",
    "stacksafe_error_response",
    "unexpected_response",
]

log = logging.getLogger("stacksafe.api")

# Seconds a client should wait before trying again, by error code (the Retry-After header).
RETRY_AFTER_BY_CODE = {"storage_unavailable": 2}
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    431: "headers_too_large",
}


def error_response(
    status: int,
    code: str,
    description: str,
    details: object = None,
    retry_after: int | None = None,
) -> JSONResponse:
    body = {"error": code, "error_description": description, "details": details or description}
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if retry_after is None:
        retry_after = RETRY_AFTER_BY_CODE.get(code)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(body, status_code=status, headers=headers or None)


def stacksafe_error_response(exc: StacksafeError) -> JSONResponse:
    """The answer to ``exc``: its class's status, with Retry-After when the wait is known."""
    retry_after = exc.retry_after if isinstance(exc, Throttled) else None
    return error_response(exc.http_status, exc.code, exc.message, retry_after=retry_after)


async def _stacksafe_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StacksafeError)  # noqa: S101 - registered for this type only
    return stacksafe_error_response(exc)


def _where(loc: tuple[object, ...]) -> str:
    return ".".join(str(part) for part in loc if part not in ("body", "query", "path", "header"))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    # Never echo the offending input: it may be a secret value.
    problems = [
        f"{_where(tuple(e.get('loc', ()))) or 'body'}: {e.get('msg', 'invalid')}"
        for e in exc.errors()
    ]
    return error_response(400, "bad_request", "; ".join(problems), problems)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # noqa: S101
    code = _HTTP_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette answers this outside every middleware (its ServerErrorMiddleware), so what
    # api.request_id and api.no_store would add is added here: the id they gave the request.
    scope = request.scope
    request_id = scope.get("state", {}).get("request_id") or request_id_of(scope)
    response = unexpected_response(request.method, request.url.path, exc, request_id)
    response.headers["Request-Id"] = request_id
    response.headers["Cache-Control"] = "no-store"
    return response


def unexpected_response(method: str, path: str, exc: Exception, request_id: str) -> JSONResponse:
    """The 500 for an exception nothing expected, logged by type and request id only."""
    # The message may quote data: never logged, never sent.
    log.error("unexpected %s on %s %s (request %s)", type(exc).__name__, method, path, request_id)
    return error_response(
        500, "internal_error", "the server failed; the operator can find the request in its log"
    )


def install_error_handlers(app: object) -> None:
    from fastapi import FastAPI

    assert isinstance(app, FastAPI)  # noqa: S101
    app.add_exception_handler(StacksafeError, _stacksafe_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
