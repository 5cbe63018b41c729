"""Accounts, stacks and their secrets: list, reveal, set, override, delete, paste a .env."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse

from stacksafe.core import secrets, tenancy, transfer
from stacksafe.core.access import Action
from stacksafe.core.audit_access import may_read_audit
from stacksafe.core.tenancy import Target
from stacksafe.errors import Conflict, PreconditionFailed, StacksafeError
from stacksafe.model import Secret, SecretValue, iso8601
from stacksafe.web.auth import Checked, SignedIn, WebRoute, redirect, render
from stacksafe.web.levels import Kind, level_target, level_url, may, on_both_levels
from stacksafe.web.state import web_state

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)
MAX_PASTE = 2 * 1024 * 1024  # characters of a pasted .env


def _attempt(request: Request, back: str, work: Callable[[], str]) -> Response:
    """Run a write; back to ``back`` with its notice, or with the core's error message (which
    never holds a value)."""
    try:
        done = work()
    except StacksafeError as exc:
        return redirect(request, back, "error", exc.message)
    return redirect(request, back, "ok", done)


@router.get("/")
def home(request: Request, user: SignedIn) -> Response:
    installation, actor = web_state(request).installation, user.principal
    accounts = tenancy.list_accounts(installation, actor)
    stacks = tenancy.list_stacks(installation, actor)
    by_account = {a.id: [s for s in stacks if s.account_id == a.id] for a in accounts}
    return render(request, "home.html", user, accounts=accounts, stacks=by_account)


@router.post("/accounts")
def create_account(request: Request, user: Checked, name: Annotated[str, Form()]) -> Response:
    installation = web_state(request).installation

    def work() -> str:
        made = tenancy.create_account(installation, user.principal, name.strip())
        return f"Created account {made.name}."

    return _attempt(request, "/", work)


def _rows(found: list[Secret]) -> list[dict[str, object]]:
    # Provenance as the core read it (Secret.overrides: an account secret this stack's
    # environment inherits lies beneath), the same the API's and the CLI's lists say.
    return [
        {
            "key": s.key,
            "origin": "inherited" if s.inherited else ("overrides" if s.overrides else "own"),
            "inherited": s.inherited,
            "environments": s.environments,
            "version": s.version,
            "updated": iso8601(s.updated_at),
        }
        for s in found
    ]


def _level_page(request: Request, user: SignedIn, target: Target) -> Response:
    installation, actor = web_state(request).installation, user.principal
    account_level = Target(target.account)
    rows: list[dict[str, object]] = []
    can_describe = may(actor, Action.DESCRIBE, target)
    if can_describe:
        rows = _rows(secrets.list_secrets(installation, actor, target))
    stacks = tenancy.list_stacks(installation, actor, target.account.uid)
    return render(
        request,
        "level.html",
        user,
        target=target,
        url=level_url(target),
        rows=rows,
        can_describe=can_describe,
        stacks=stacks,
        can_reveal=may(actor, Action.REVEAL, target),
        can_write=may(
            actor,
            Action.WRITE_STACK_SECRETS if target.stack else Action.WRITE_ACCOUNT_SECRETS,
            target,
        ),
        can_manage_stacks=may(actor, Action.MANAGE_STACKS, account_level),
        can_read_audit=may_read_audit(actor, target.account),
    )


@router.get("/accounts/{ref}")
def account_page(request: Request, ref: str, user: SignedIn) -> Response:
    target = tenancy.visible_target(
        web_state(request).installation, user.principal, account_ref=ref
    )
    return _level_page(request, user, target)


@router.get("/stacks/{uid}")
def stack_page(request: Request, uid: str, user: SignedIn) -> Response:
    target = tenancy.visible_target(web_state(request).installation, user.principal, stack_uid=uid)
    return _level_page(request, user, target)


@router.post("/accounts/{ref}/stacks")
def create_stack(
    request: Request,
    ref: str,
    user: Checked,
    name: Annotated[str, Form()],
    environment: Annotated[str, Form()] = "development",
) -> Response:
    installation = web_state(request).installation
    target = tenancy.visible_target(installation, user.principal, account_ref=ref)

    def work() -> str:
        made = tenancy.create_stack(
            installation, user.principal, target.account.uid, name.strip(), environment.strip()
        )
        return f"Created stack {made.name} ({made.environment})."

    return _attempt(request, level_url(target), work)


@on_both_levels(router, "POST", "/secrets")
def set_secret(
    request: Request,
    kind: Kind,
    ref: str,
    user: Checked,
    key: Annotated[str, Form(max_length=255)],
    value: Annotated[str, Form()],
    expected_version: Annotated[int | None, Form(ge=0, le=2**31 - 1)] = None,
) -> Response:
    """Create or replace a key at this level; on a stack, a key it inherits becomes its own
    override. The forms send the version they were showing (0: a new key or a new override),
    so a value someone else wrote meanwhile is not silently replaced (the API's If-Match)."""
    installation = web_state(request).installation
    target = level_target(installation, user.principal, kind, ref)

    def work() -> str:
        try:
            written = secrets.set_secret(
                installation,
                user.principal,
                target,
                key.strip(),
                SecretValue(value),
                expected_version=expected_version,
            )
        except PreconditionFailed:
            if expected_version != 0:
                raise
            # As the API's POST says it: the add form never replaces an existing key.
            raise Conflict(
                f"secret {key.strip()!r} already exists here; use its Edit form to replace it"
            ) from None
        return f"Saved {written.key} (version {written.version})."

    return _attempt(request, level_url(target), work)


@on_both_levels(router, "POST", "/secrets/{key}/delete")
def delete_secret(request: Request, kind: Kind, ref: str, key: str, user: Checked) -> Response:
    installation = web_state(request).installation
    target = level_target(installation, user.principal, kind, ref)

    def work() -> str:
        secrets.unset_secret(installation, user.principal, target, key)
        return f"Deleted {key} from {target.describe()}."

    return _attempt(request, level_url(target), work)


@on_both_levels(router, "POST", "/secrets/{key}/reveal")
def reveal_secret(request: Request, kind: Kind, ref: str, key: str, user: Checked) -> Response:
    """One value, as JSON for the page's script: permission-checked and audited by the core
    (the event's token id is the session's ``web_...`` uid)."""
    installation = web_state(request).installation
    try:
        target = level_target(installation, user.principal, kind, ref)
        found = secrets.get_secret(
            installation, user.principal, target, key, reveal=True, purpose="web"
        )
    except StacksafeError as exc:
        return JSONResponse({"error": exc.code, "error_description": exc.message}, exc.http_status)
    value = None if found.raw_value is None else found.raw_value.reveal()
    return JSONResponse({"key": found.key, "value": value})


@on_both_levels(router, "POST", "/import")
def import_dotenv(
    request: Request,
    kind: Kind,
    ref: str,
    user: Checked,
    dotenv: Annotated[str, Form(max_length=MAX_PASTE)],
) -> Response:
    """A pasted .env, parsed and imported as `stacksafe secrets import` does: all or nothing."""
    installation = web_state(request).installation
    target = level_target(installation, user.principal, kind, ref)

    def work() -> str:
        entries = transfer.parse(dotenv, "dotenv", "the pasted text")
        report = secrets.import_secrets(
            installation, user.principal, target, entries, provenance={"source": "web paste"}
        )
        return (
            f"Imported into {target.describe()}: {len(report.added)} added, "
            f"{len(report.changed)} changed, {len(report.unchanged)} unchanged."
        )

    return _attempt(request, level_url(target), work)
