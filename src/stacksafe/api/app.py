"""The application factory: everything the API needs is passed in, nothing read at import."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from stacksafe.api.deps import ApiState
from stacksafe.api.errors import install_error_handlers
from stacksafe.api.limits import DeclaredSizeLimit
from stacksafe.api.ratelimit import SlidingWindow
from stacksafe.api.request_id import RequestId
from stacksafe.api.routes import audit, health, secrets, tenancy, users
from stacksafe.core.vault import Vault, open_vault
from stacksafe.settings import Settings

__all__ = ["DEFAULT_RATE_LIMIT", "MAX_BODY_BYTES", "app_from_environment", "create_app"]

DEFAULT_RATE_LIMIT = 3000  # requests per token per hour, as Cloud66
# A bulk import of many large values fits; anything bigger is refused with 413 unread.
MAX_BODY_BYTES = 8 * 1024 * 1024
BAD_TOKEN_LIMIT = 20  # invalid tokens per address per minute before throttling


def create_app(
    vault: Vault, *, rate_limit: int = DEFAULT_RATE_LIMIT, close_vault: bool = False
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if close_vault:
            vault.close()

    app = FastAPI(
        title="stacksafe",
        version="3",
        openapi_url="/api/3/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.stacksafe = ApiState(
        vault=vault,
        per_token=SlidingWindow(rate_limit, 3600.0),
        bad_tokens=SlidingWindow(BAD_TOKEN_LIMIT, 60.0),
    )
    app.add_middleware(DeclaredSizeLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestId)
    install_error_handlers(app)
    for router in (tenancy.router, secrets.router, users.router, audit.router):
        app.include_router(router, prefix="/api/3")
    app.include_router(health.router)
    return app


def app_from_environment() -> FastAPI:
    """For ``uvicorn --factory`` (several workers): settings from ``STACKSAFE_*`` variables."""
    limit = int(os.environ.get("STACKSAFE_RATE_LIMIT", DEFAULT_RATE_LIMIT))
    return create_app(open_vault(Settings.load()), rate_limit=limit, close_vault=True)
