"""Single sign-on (core.oidc): the button sends the browser to the provider; the provider sends
it back to the callback, which opens a session exactly as the password sign-in does (the same
cookie, the same session row, ``session.start`` with ``method: sso``)."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from stacksafe.core.oidc.flow import FLOW_SECONDS, Callback, SignInRefused
from stacksafe.core.oidc.flow import finish_sign_in as finish
from stacksafe.core.oidc.flow import start_sign_in as start
from stacksafe.errors import Throttled
from stacksafe.web.auth import (
    PRE_COOKIE,
    SESSION_COOKIE,
    WebRoute,
    clear_cookie,
    client_ip,
    cookie_name,
    error_page,
    render,
    set_cookie,
    site_origin,
)
from stacksafe.web.state import web_state

__all__ = ["CALLBACK", "FLOW_COOKIE", "router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)
FLOW_COOKIE = "stacksafe_sso"
CALLBACK = "/sign-in/sso/callback"
_MAX_PARAM = 4096


@router.get("/sign-in/sso")
async def sso_start(request: Request) -> Response:
    # A link, not a form: the page's CSP (form-action 'self') would stop a form's redirect to
    # the provider. Starting a sign-in needs no CSRF token: it changes nothing, and only the
    # browser holding the flow cookie set here can finish it.
    installation = web_state(request).installation
    try:
        started = await run_in_threadpool(
            partial(start, source_ip=client_ip(request)),
            installation,
            site_origin(request) + CALLBACK,
        )
    except Throttled as slow_down:
        return error_page(request, 429, slow_down.message, retry_after=slow_down.retry_after)
    response = RedirectResponse(started.url, status_code=303)
    set_cookie(request, response, FLOW_COOKIE, started.secret, samesite="lax", max_age=FLOW_SECONDS)
    return response


def _param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return None if value is None else value[:_MAX_PARAM]


@router.get(CALLBACK)
def sso_callback(request: Request) -> Response:
    state = web_state(request)
    back = Callback(
        flow_secret=request.cookies.get(cookie_name(request, FLOW_COOKIE)),
        state=_param(request, "state"),
        code=_param(request, "code"),
        error=_param(request, "error"),
        redirect_uri=site_origin(request) + CALLBACK,
        source_ip=client_ip(request),
        request_id=str(getattr(request.state, "request_id", "")) or None,
    )
    try:
        started = finish(state.installation, back, state.policy, state.sign_ins.refused)
    except SignInRefused as refused:
        page = error_page(
            request,
            401,
            f"{refused.message}. Nobody was signed in and nothing was changed; "
            "start again from the sign-in page.",
        )
        clear_cookie(request, page, FLOW_COOKIE)
        return page
    # Not a redirect: after the provider's cross-site redirect, the browser would not send the
    # new SameSite=Strict session cookie with a redirect's next request; a page of this site
    # that moves on (meta refresh, or the link) is a same-site navigation, so it does.
    page = render(request, "signed_in.html", None, email=started.email)
    set_cookie(request, page, SESSION_COOKIE, started.session.secret)
    clear_cookie(request, page, FLOW_COOKIE)
    clear_cookie(request, page, PRE_COOKIE)
    return page
