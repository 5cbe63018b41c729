"""Mounting the UI on the API's application: same process, same vault, same audit log."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from stacksafe.core.sessions import SessionPolicy
from stacksafe.core.vault import Vault
from stacksafe.web.headers import SecurityHeaders
from stacksafe.web.routes import admin, history, secrets, session
from stacksafe.web.state import HERE, WebState, check_web_origin
from stacksafe.web.throttle import FailureCounter

__all__ = ["FAILED_SIGN_INS_PER_MINUTE", "install_web"]

FAILED_SIGN_INS_PER_MINUTE = 10  # per (source address, email)


def install_web(
    app: FastAPI, vault: Vault, policy: SessionPolicy | None = None, origin: str | None = None
) -> None:
    """Add the UI's pages at ``/`` and its assets at ``/static`` to ``app``. The pages are not
    in the OpenAPI document: that describes the JSON API only. ``origin``: the public origin
    browsers use, when a proxy in front terminates TLS (the Origin check and Secure cookies
    follow it)."""
    app.state.web = WebState(
        vault=vault,
        policy=policy or SessionPolicy(),
        templates=Jinja2Templates(directory=HERE / "templates"),
        failed_sign_ins=FailureCounter(FAILED_SIGN_INS_PER_MINUTE, 60.0),
        origin=None if origin is None else check_web_origin(origin),
    )
    app.add_middleware(SecurityHeaders)
    for router in (session.router, secrets.router, history.router, admin.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
