"""The audit log viewer and the signed-in user's API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response

from stacksafe.core import audit_events, principals, tenancy
from stacksafe.core.audit_access import audit_log_to_read, readable_logs
from stacksafe.core.validation import parse_duration
from stacksafe.errors import InvalidInput, StacksafeError
from stacksafe.model import iso8601
from stacksafe.paging import MAX_PAGE, WEB_PER_PAGE, offset_of
from stacksafe.web.auth import Checked, SignedIn, WebRoute, redirect, render
from stacksafe.web.state import web_state

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _since(text: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"since {text!r} is not an ISO 8601 time") from None
    return moment


@router.get("/audit")
def audit_log(
    request: Request,
    user: SignedIn,
    account: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=320)] = "",
    key: Annotated[str, Query(max_length=255)] = "",
    since: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    """Events newest first: an account's (administrators) or all of them (the server owner),
    the same rule as the API's two audit routes."""
    installation, me = web_state(request).installation, user.principal
    readable = readable_logs(installation, me)
    chosen = None
    if account:
        chosen = tenancy.visible_target(installation, me, account_ref=account).account
    log_of = audit_log_to_read(installation, me, chosen, first_readable=True)
    account_uid = None if log_of is None else log_of.uid
    found = list(
        audit_events.list_events(
            installation,
            account_uid=account_uid,
            since=_since(since),
            actor=actor.strip() or None,
            key=key.strip() or None,
            limit=WEB_PER_PAGE + 1,
            offset=offset_of(page, WEB_PER_PAGE),
        )
    )
    events = [{**e.to_json(), "at": iso8601(e.at)} for e in found[:WEB_PER_PAGE]]
    names = {a.uid: a.name for a in tenancy.list_accounts(installation, me)}
    names |= {s.uid: s.name for s in tenancy.list_stacks(installation, me)}
    return render(
        request,
        "audit.html",
        user,
        events=events,
        names=names,
        readable=readable,
        filters={"account": account_uid or "", "actor": actor, "key": key, "since": since},
        page=page,
        more=len(found) > WEB_PER_PAGE,
    )


@router.get("/tokens")
def tokens(request: Request, user: SignedIn) -> Response:
    return _tokens_page(request, user, None)


def _tokens_page(request: Request, user: SignedIn, created: str | None) -> Response:
    installation, me = web_state(request).installation, user.principal
    mine = [t for t, email in principals.list_tokens(installation, me, me.name) if email == me.name]
    rows = [
        {
            "id": t.uid,
            "scopes": " ".join(t.scopes),
            "stacks": " ".join(t.stack_uids or ()) or "all",
            "environments": " ".join(t.environments or ()) or "all",
            "created": iso8601(t.created_at),
            "expires": "never" if t.expires_at is None else iso8601(t.expires_at),
            "revoked": None if t.revoked_at is None else iso8601(t.revoked_at),
        }
        for t in mine
    ]
    return render(request, "tokens.html", user, tokens=rows, created=created)


@router.post("/tokens")
def create_token(
    request: Request,
    user: Checked,
    scopes: Annotated[list[str], Form()],
    environments: Annotated[str, Form(max_length=1000)] = "",
    stacks: Annotated[str, Form(max_length=2000)] = "",
    expires_in: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """A new token for the signed-in user, shown once, in this response only (not stored in
    any page or URL afterwards; the page is no-store)."""
    installation = web_state(request).installation
    try:
        created = principals.create_token(
            installation,
            user.principal,
            user.principal.name,
            scopes=scopes,
            stacks=stacks.split(),
            environments=environments.split(),
            expires_in=parse_duration(expires_in, "expires in") if expires_in.strip() else None,
        )
    except StacksafeError as exc:
        return redirect(request, "/tokens", "error", exc.message)
    return _tokens_page(request, user, created.token)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: str, user: Checked) -> Response:
    try:
        principals.revoke_token(web_state(request).installation, user.principal, token_id)
    except StacksafeError as exc:
        return redirect(request, "/tokens", "error", exc.message)
    return redirect(request, "/tokens", "ok", f"Revoked {token_id}.")
