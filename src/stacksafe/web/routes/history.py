"""A secret's history and rollback, rotation status, and the difference between two stacks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response

from stacksafe.core import promotion, rotation, tenancy, versions
from stacksafe.core.access import Action
from stacksafe.core.validation import parse_duration
from stacksafe.errors import StacksafeError
from stacksafe.model import iso8601
from stacksafe.web.auth import Checked, SignedIn, WebRoute, WebUser, redirect, render
from stacksafe.web.levels import Kind, level_target, level_url, may, on_both_levels
from stacksafe.web.state import web_state

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _history_url(kind: str, ref: str, key: str) -> str:
    return f"/{kind}/{ref}/secrets/{key}/history"


@on_both_levels(router, "GET", "/secrets/{key}/history")
def history(request: Request, kind: Kind, ref: str, key: str, user: SignedIn) -> Response:
    installation, actor = web_state(request).installation, user.principal
    target = level_target(installation, actor, kind, ref)
    entries = versions.history(installation, actor, target, key)
    write = Action.WRITE_STACK_SECRETS if target.stack else Action.WRITE_ACCOUNT_SECRETS
    return render(
        request,
        "history.html",
        user,
        target=target,
        url=level_url(target),
        key=key,
        entries=[{**e.to_json(), "at": iso8601(e.created_at)} for e in entries],
        can_write=may(actor, write, target),
        action_url=f"/{kind}/{ref}/secrets/{key}",
    )


@on_both_levels(router, "POST", "/secrets/{key}/rollback")
def rollback(
    request: Request,
    kind: Kind,
    ref: str,
    key: str,
    user: Checked,
    to_version: Annotated[int, Form(ge=1, le=2**31 - 1)],
) -> Response:
    """Make an earlier version's value current again, as a new version."""
    installation = web_state(request).installation
    back = _history_url(kind, ref, key)
    try:
        target = level_target(installation, user.principal, kind, ref)
        made = versions.rollback_key(installation, user.principal, target, key, to_version)
    except StacksafeError as exc:
        return redirect(request, back, "error", exc.message)
    return redirect(
        request, back, "ok", f"Rolled {key} back to version {to_version}'s value (version {made})."
    )


@router.get("/accounts/{ref}/rotation")
def rotation_status(
    request: Request,
    ref: str,
    user: SignedIn,
    within: Annotated[str, Query(max_length=32)] = "7d",
    show_all: Annotated[bool, Query(alias="all")] = False,
) -> Response:
    installation, actor = web_state(request).installation, user.principal
    target = tenancy.visible_target(installation, actor, account_ref=ref)
    found = rotation.rotation_status(
        installation,
        actor,
        target.account,
        within=parse_duration(within, "within"),
        include_ok=show_all,
    )
    return render(
        request,
        "rotation.html",
        user,
        target=target,
        url=level_url(target),
        entries=[e.to_json() for e in found],
        within=within,
        show_all=show_all,
    )


def _diff_page(
    request: Request, uid: str, user: WebUser, other: str | None, compare: bool
) -> Response:
    installation, actor = web_state(request).installation, user.principal
    left = tenancy.visible_target(installation, actor, stack_uid=uid)
    candidates = [s for s in tenancy.list_stacks(installation, actor) if s.uid != uid]
    entries = None
    right = None
    if other:
        right = tenancy.visible_target(installation, actor, stack_uid=other)
        if compare:
            entries = [e.to_json() for e in promotion.diff_stacks(installation, actor, left, right)]
    return render(
        request,
        "diff.html",
        user,
        target=left,
        url=level_url(left),
        candidates=candidates,
        other=right,
        entries=entries,
    )


@router.get("/stacks/{uid}/diff")
def diff_form(
    request: Request,
    uid: str,
    user: SignedIn,
    other: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The form to choose the other stack (``other`` only preselects it): shows no comparison
    and audits nothing, so a link or an image cannot make a user's browser run one."""
    return _diff_page(request, uid, user, other, compare=False)


@router.post("/stacks/{uid}/diff")
def diff(
    request: Request,
    uid: str,
    user: Checked,
    other: Annotated[str, Form(min_length=1, max_length=64)],
) -> Response:
    """Keys missing on either side and values that differ (compared by keyed fingerprint, never
    shown); needs reveal permission on both stacks and is audited as a reveal, as in the API:
    a POST with the Origin and CSRF checks, like every request that writes an audit event."""
    return _diff_page(request, uid, user, other, compare=True)
