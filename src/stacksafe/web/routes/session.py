"""Signing in and out."""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from starlette.concurrency import run_in_threadpool

from stacksafe.core.oidc.provider import password_sign_in_allowed, provider_of
from stacksafe.core.sessions import end_session
from stacksafe.errors import TooManyFailures, Unauthenticated
from stacksafe.model import SecretValue
from stacksafe.web.auth import (
    PRE_COOKIE,
    SESSION_COOKIE,
    Checked,
    WebRoute,
    check_origin,
    clear_cookie,
    cookie_name,
    error_page,
    new_pre_session,
    pre_session,
    redirect,
    refused_form,
    render,
    set_cookie,
)
from stacksafe.web.state import web_state

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/sign-in")
def sign_in_page(request: Request) -> Response:
    # A fresh pre-session nonce per form: the token in the page matches the cookie set with it.
    nonce, token = new_pre_session(request)
    provider = provider_of(web_state(request).installation)
    response = render(
        request,
        "sign_in.html",
        None,
        pre_csrf=token,
        sso=provider is not None,
        password_sign_in=provider is None or provider.password_sign_in,
    )
    set_cookie(request, response, PRE_COOKIE, nonce)
    return response


@router.post("/sign-in")
async def sign_in(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    # On the event loop: the checks below are cheap; the rest (the counts, Argon2, the
    # session) runs on the password pool, never on the threads the API's requests need.
    check_origin(request)
    if not await run_in_threadpool(password_sign_in_allowed, web_state(request).installation):
        return error_page(request, 403, "password sign-in is switched off: sign in with SSO")
    expected = pre_session(request)
    if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
        expired = "the form expired; please sign in again"
        return await refused_form(request, "the sign-in form's CSRF token is missing or wrong") or (
            redirect(request, "/sign-in", "error", expired)
        )
    state = web_state(request)
    source_ip = request.client.host if request.client else None
    request_id = str(getattr(request.state, "request_id", "")) or None
    replacing = request.cookies.get(cookie_name(request, SESSION_COOKIE))
    secret = SecretValue(password)
    # Throttled here when the pool and its queue are full: a 503 page with Retry-After.
    checking = state.passwords.submit(
        lambda: state.sign_ins.start(
            email,
            secret,
            state.policy,
            source_ip=source_ip,
            request_id=request_id,
            replacing=replacing,
        )
    )
    try:
        started = await asyncio.wrap_future(checking)
    except (Unauthenticated, TooManyFailures) as refused:
        return redirect(request, "/sign-in", "error", refused.message)
    response = redirect(request, "/")
    set_cookie(request, response, SESSION_COOKIE, started.secret)
    clear_cookie(request, response, PRE_COOKIE)
    return response


@router.post("/sign-out")
def sign_out(request: Request, user: Checked) -> Response:
    end_session(web_state(request).installation, user.principal, user.secret)
    response = redirect(request, "/sign-in", "ok", "Signed out.")
    clear_cookie(request, response, SESSION_COOKIE)
    return response
