"""Who is signed in, CSRF and Origin checks, cookies, one-shot notices, and HTML errors.

Every state-changing request is a POST whose form carries the CSRF token (derived from the
session cookie's secret) and whose ``Origin`` (or, failing that, ``Referer``) is this site.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import json
import secrets as random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote

from fastapi import Depends, Form, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from stacksafe.core.access import Principal
from stacksafe.core.audit_access import may_read_some_log
from stacksafe.core.sessions import csrf_token, pre_session_csrf, session_principal
from stacksafe.errors import StacksafeError, Throttled, Unauthenticated
from stacksafe.web.state import web_state

__all__ = [
    "FLASH_COOKIE",
    "PRE_COOKIE",
    "SESSION_COOKIE",
    "Checked",
    "CsrfRefused",
    "SignInRequired",
    "SignedIn",
    "WebRoute",
    "WebUser",
    "attempt",
    "check_origin",
    "checked",
    "clear_cookie",
    "client_ip",
    "cookie_name",
    "error_page",
    "flash",
    "new_pre_session",
    "pre_session",
    "redirect",
    "refused_form",
    "render",
    "set_cookie",
    "signed_in",
    "site_origin",
]

SESSION_COOKIE = "stacksafe_session"
PRE_COOKIE = "stacksafe_pre"
FLASH_COOKIE = "stacksafe_flash"


class SignInRequired(Exception):
    def __init__(self, reason: str | None) -> None:
        self.reason = reason


class CsrfRefused(Exception):
    """A form without this site's origin or CSRF token: refused before anything runs."""


@dataclass(frozen=True)
class WebUser:
    principal: Principal
    secret: str = field(repr=False)  # the session cookie's value: never in a log line
    csrf: str = field(repr=False)


def site_origin(request: Request) -> str:
    """This site's origin as the browser sees it: the configured public origin (behind a
    TLS-terminating proxy), else the request's own scheme and host."""
    configured = web_state(request).origin
    return configured or f"{request.url.scheme}://{request.url.netloc}"


def _secure(request: Request) -> bool:
    return site_origin(request).startswith("https://")


def cookie_name(request: Request, base: str) -> str:
    # Under TLS the __Host- prefix makes the browser insist on Secure, Path=/ and no Domain.
    return f"__Host-{base}" if _secure(request) else base


def set_cookie(
    request: Request,
    response: Response,
    base: str,
    value: str,
    *,
    samesite: Literal["strict", "lax"] = "strict",
    **kw: Any,
) -> None:
    # Lax only for the single sign-on flow's cookie: it must come back with the provider's
    # cross-site redirect to the callback, which a Strict cookie does not.
    response.set_cookie(
        cookie_name(request, base),
        value,
        httponly=True,
        secure=_secure(request),
        samesite=samesite,
        path="/",
        **kw,
    )


def clear_cookie(request: Request, response: Response, base: str) -> None:
    # With the attributes it was set with: a browser ignores a __Host- cookie without Secure,
    # deletion included.
    set_cookie(request, response, base, "", max_age=0, expires=0)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def signed_in(request: Request) -> WebUser:
    """The signed-in user; anyone else is sent to the sign-in page."""
    state = web_state(request)
    secret = request.cookies.get(cookie_name(request, SESSION_COOKIE))
    if not secret:
        raise SignInRequired(None)
    try:
        principal = session_principal(
            state.installation,
            secret,
            state.policy,
            source_ip=client_ip(request),
            request_id=str(getattr(request.state, "request_id", "")) or None,
        )
    except Unauthenticated as exc:
        raise SignInRequired(exc.message) from None
    return WebUser(principal, secret, csrf_token(state.installation, secret))


SignedIn = Annotated[WebUser, Depends(signed_in)]


def check_origin(request: Request) -> None:
    expected = site_origin(request)
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer", "")
        if referer != expected and not referer.startswith(expected + "/"):
            raise CsrfRefused("the form did not come from this site (no Origin or Referer)")
    elif origin != expected:
        raise CsrfRefused("the form came from another site")


def pre_session(request: Request) -> str:
    """The sign-in form's CSRF token, from the pre-session cookie (``""`` if there is none)."""
    nonce = request.cookies.get(cookie_name(request, PRE_COOKIE), "")
    return pre_session_csrf(web_state(request).installation, nonce) if nonce else ""


def new_pre_session(request: Request) -> tuple[str, str]:
    """A fresh pre-session nonce (for its cookie) and the sign-in form's token for it."""
    nonce = random.token_urlsafe(24)
    return nonce, pre_session_csrf(web_state(request).installation, nonce)


def checked(request: Request, user: SignedIn, csrf: Annotated[str, Form()] = "") -> WebUser:
    """The signed-in user of a POST that passed the Origin and CSRF checks."""
    check_origin(request)
    if not hmac.compare_digest(csrf.encode(), user.csrf.encode()):
        raise CsrfRefused("the form's CSRF token is missing or wrong; reload the page")
    return user


Checked = Annotated[WebUser, Depends(checked)]


def flash(request: Request, response: Response, kind: str, text: str) -> None:
    """A notice for the next page (never a value: messages name keys, not values)."""
    payload = quote(json.dumps({"kind": kind, "text": text[:500]}))
    set_cookie(request, response, FLASH_COOKIE, payload, max_age=60)


def redirect(request: Request, to: str, kind: str | None = None, text: str = "") -> Response:
    response = RedirectResponse(to, status_code=303)
    if kind is not None:
        flash(request, response, kind, text)
    return response


def attempt(
    request: Request, back: str, work: Callable[[], str], *, done_at: str | None = None
) -> Response:
    """Run a form's change: to ``done_at`` (default ``back``) with its notice, or back to
    ``back`` with the core's error message (which never holds a value)."""
    try:
        done = work()
    except StacksafeError as exc:
        return redirect(request, back, "error", exc.message)
    return redirect(request, back if done_at is None else done_at, "ok", done)


def _taken_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(cookie_name(request, FLASH_COOKIE))
    if not raw:
        return None
    try:
        found = json.loads(unquote(raw))
    except ValueError:
        return None
    if not isinstance(found, dict):
        return None
    return {"kind": str(found.get("kind", "")), "text": str(found.get("text", ""))}


def render(
    request: Request,
    name: str,
    user: WebUser | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    state = web_state(request)
    notice = _taken_flash(request)
    response = state.templates.TemplateResponse(
        request,
        name,
        {
            "user": user,
            "csrf": "" if user is None else user.csrf,
            "notice": notice,
            "reveal_seconds": state.reveal_seconds,
            # The header's link to the audit page, only for who may read some log there.
            "audit_link": user is not None and may_read_some_log(user.principal),
            **context,
        },
        status_code=status_code,
    )
    if notice is not None:
        clear_cookie(request, response, FLASH_COOKIE)
    return response


def error_page(
    request: Request, status: int, message: str, retry_after: int | None = None
) -> Response:
    user = None
    with contextlib.suppress(SignInRequired):
        user = signed_in(request)
    page = render(request, "error.html", user, status_code=status, status=status, message=message)
    if retry_after is not None:
        page.headers["Retry-After"] = str(retry_after)
    return page


async def refused_form(request: Request, reason: str) -> Response | None:
    """Record a form refused by the Origin or CSRF check (core.sessions.FormRefusals), on a
    worker thread (an audit append waits for its commit; the event loop must not); None, or
    the error page when the refusal cannot be recorded (the audit log is down)."""
    user = None
    with contextlib.suppress(SignInRequired):
        user = signed_in(request)
    try:
        await run_in_threadpool(
            functools.partial(
                web_state(request).form_refusals.refused,
                None if user is None else user.principal,
                reason,
                source_ip=client_ip(request),
                request_id=str(getattr(request.state, "request_id", "")) or None,
            )
        )
    except StacksafeError as exc:
        return error_page(request, exc.http_status, exc.message)
    return None


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class WebRoute(APIRoute):
    """A UI route: errors become pages (or a redirect to sign in), never the API's JSON."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as needed:
                if needed.reason is None:
                    return redirect(request, "/sign-in")
                # A cookie that no longer works is dropped, not sent with every request.
                sent_back = redirect(request, "/sign-in", "error", needed.reason)
                clear_cookie(request, sent_back, SESSION_COOKIE)
                return sent_back
            except CsrfRefused as refused:
                return await refused_form(request, str(refused)) or error_page(
                    request, 403, str(refused)
                )
            except StacksafeError as exc:
                wait = exc.retry_after if isinstance(exc, Throttled) else None
                return error_page(request, exc.http_status, exc.message, wait)
            except RequestValidationError:
                # Never echo the input: it may hold a value.
                return error_page(request, 400, "the form was incomplete or malformed")

        return guarded
