"""Mounting the UI on the API's application: same process, same installation, same audit log."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from stacksafe.core.installation import Installation
from stacksafe.core.password_pool import PasswordPool
from stacksafe.core.sessions import FormRefusals, SessionPolicy
from stacksafe.core.sign_in import SignInLimits, SignIns
from stacksafe.web.headers import SecurityHeaders
from stacksafe.web.route_table import add_routes
from stacksafe.web.routes import admin, history, secrets, session, sso, users
from stacksafe.web.state import HERE, WebState, check_web_origin

__all__ = ["install_web"]


def install_web(
    app: FastAPI,
    installation: Installation,
    policy: SessionPolicy | None = None,
    origin: str | None = None,
    *,
    passwords: PasswordPool | None = None,
    sign_in_limits: SignInLimits | None = None,
) -> None:
    """Add the UI's pages at ``/`` and its assets at ``/static`` to ``app``. The pages are not
    in the OpenAPI document: that describes the JSON API only. ``origin``: the public origin
    browsers use, when a proxy in front terminates TLS (the Origin check and Secure cookies
    follow it). ``passwords``: the pool sign-ins check passwords on (core.password_pool);
    ``sign_in_limits``: failed sign-ins allowed per email (core.sign_in)."""
    app.state.web = WebState(
        installation=installation,
        policy=policy or SessionPolicy(),
        templates=Jinja2Templates(directory=HERE / "templates"),
        sign_ins=SignIns(installation, sign_in_limits),
        form_refusals=FormRefusals(installation),
        passwords=passwords or PasswordPool(),
        origin=None if origin is None else check_web_origin(origin),
    )
    app.add_middleware(SecurityHeaders)
    add_routes(
        app,
        session.router,
        sso.router,
        secrets.router,
        history.router,
        admin.router,
        users.router,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
