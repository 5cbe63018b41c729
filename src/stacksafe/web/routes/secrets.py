"""Accounts, stacks and their secrets: list, reveal, set, override, delete, paste a .env."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import JSONResponse

from stacksafe.core import secrets, tenancy, transfer
from stacksafe.core.access import Action
from stacksafe.core.audit_access import may_read_audit
from stacksafe.core.tenancy import Target
from stacksafe.errors import Conflict, PreconditionFailed, StacksafeError
from stacksafe.model import Secret, SecretValue, iso8601
from stacksafe.paging import MAX_PAGE, WEB_SECRETS_PER_PAGE, offset_of
from stacksafe.web.auth import Checked, SignedIn, WebRoute, attempt, redirect, render
from stacksafe.web.levels import Kind, level_target, level_url, may, on_both_levels
from stacksafe.web.state import web_state

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)
MAX_PASTE = 2 * 1024 * 1024  # characters of a pasted .env


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

    return attempt(request, "/", work)


@dataclass(frozen=True)
class Listing:
    """Which of a level's keys the page shows: those matching ``query`` (a case-insensitive
    substring of the key, empty: all), ``page`` of them, ``WEB_SECRETS_PER_PAGE`` a page.
    Paged on the server so a page stays small and fast whatever the number of keys."""

    query: str = ""
    page: int = 1

    def select(self, found: list[Secret]) -> tuple[list[Secret], dict[str, object]]:
        needle = self.query.strip().lower()
        matching = [s for s in found if needle in s.key.lower()] if needle else found
        start = offset_of(self.page, WEB_SECRETS_PER_PAGE)
        shown = matching[start : start + WEB_SECRETS_PER_PAGE]
        summary: dict[str, object] = {
            "query": self.query.strip(),
            "total": f"{len(found):,}",
            "matching": f"{len(matching):,}",
            "first": f"{start + 1:,}",
            "last": f"{start + len(shown):,}",
            "shown": len(shown),
            "empty": not found,
            "filtered": bool(needle),
            "any_match": bool(matching),
            "page": self.page,
            "here": self.here(),
            "previous": self._href(self.page - 1) if self.page > 1 else None,
            "next": self._href(self.page + 1) if start + len(shown) < len(matching) else None,
        }
        return shown, summary

    def here(self) -> str:
        """The query string of this page and filter ("" for the first page, unfiltered): the
        level's forms post to their URL with it, so a write returns to the page it came from."""
        return "" if self == Listing() else self._href(self.page)

    def _href(self, page: int) -> str:
        params: dict[str, object] = {"q": self.query.strip()} if self.query.strip() else {}
        return "?" + urlencode({**params, "page": page})


def _restriction_text(environments: list[str] | None) -> str:
    return "all environments" if environments is None else "only " + ", ".join(environments)


def _rows(
    found: list[Secret],
    target: Target,
    restrictions: Mapping[str, list[str]] | None,
) -> list[dict[str, object]]:
    """One row per secret shown. ``inherited``: it lives on the account, seen from a stack (on
    the account's own page a secret is the account's own: edited and deleted there).
    ``environments``: the account-level restriction, shown where it applies (None: unknown to
    this user, or nothing to show)."""
    on_stack = target.stack is not None
    rows: list[dict[str, object]] = []
    for s in found:
        inherited = on_stack and s.inherited
        environments = None
        if restrictions is not None and not on_stack:
            environments = _restriction_text(restrictions.get(s.key))
        elif restrictions is not None and inherited and s.key in restrictions:
            environments = _restriction_text(restrictions[s.key])
        rows.append(
            {
                "key": s.key,
                # Provenance as the core read it (Secret.overrides: an account secret this
                # stack's environment inherits lies beneath), as the API's and CLI's lists say.
                "origin": "inherited" if inherited else ("overrides" if s.overrides else "own"),
                "inherited": inherited,
                "version": s.version,
                "updated": iso8601(s.updated_at),
                "environments": environments,
            }
        )
    return rows


def _level_page(
    request: Request,
    user: SignedIn,
    target: Target,
    listing: Listing,
    *,
    notice: dict[str, str] | None = None,
    dotenv: str = "",
    status_code: int = 200,
) -> Response:
    installation, actor = web_state(request).installation, user.principal
    account_level = Target(target.account)
    rows: list[dict[str, object]] = []
    summary: dict[str, object] = {}
    can_describe = may(actor, Action.DESCRIBE, target)
    if can_describe:
        restrictions = None
        if may(actor, Action.DESCRIBE, account_level):
            restrictions = secrets.account_restrictions(installation, actor, target)
        shown, summary = listing.select(secrets.list_secrets(installation, actor, target))
        rows = _rows(shown, target, restrictions)
    stacks = tenancy.list_stacks(installation, actor, target.account.uid)
    extra: dict[str, object] = {} if notice is None else {"notice": notice}
    return render(
        request,
        "level.html",
        user,
        status_code=status_code,
        target=target,
        url=level_url(target),
        rows=rows,
        listing=summary,
        can_describe=can_describe,
        stacks=stacks,
        can_reveal=may(actor, Action.REVEAL, target),
        can_write=may(
            actor,
            Action.WRITE_STACK_SECRETS if target.stack else Action.WRITE_ACCOUNT_SECRETS,
            target,
        ),
        can_manage_stacks=may(actor, Action.MANAGE_STACKS, account_level),
        # Deleting: a stack as creating one, an account the server owner alone (the core's
        # rules; this only decides whether to offer the form).
        can_delete=actor.is_owner
        if target.stack is None
        else may(actor, Action.MANAGE_STACKS, account_level),
        can_read_audit=may_read_audit(actor, target.account),
        dotenv=dotenv,
        **extra,
    )


# The key filter and the page: query parameters of an account's and a stack's page.
KeyFilter = Annotated[str, Query(alias="q", max_length=255)]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@router.get("/accounts/{ref}")
def account_page(
    request: Request, ref: str, user: SignedIn, q: KeyFilter = "", page: Page = 1
) -> Response:
    target = tenancy.visible_target(
        web_state(request).installation, user.principal, account_ref=ref
    )
    return _level_page(request, user, target, Listing(q, page))


@router.get("/stacks/{uid}")
def stack_page(
    request: Request, uid: str, user: SignedIn, q: KeyFilter = "", page: Page = 1
) -> Response:
    target = tenancy.visible_target(web_state(request).installation, user.principal, stack_uid=uid)
    return _level_page(request, user, target, Listing(q, page))


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

    return attempt(request, level_url(target), work)


@on_both_levels(router, "POST", "/secrets")
def set_secret(
    request: Request,
    kind: Kind,
    ref: str,
    user: Checked,
    key: Annotated[str, Form(max_length=255)],
    value: Annotated[str, Form()],
    expected_version: Annotated[int | None, Form(ge=0, le=2**31 - 1)] = None,
    q: KeyFilter = "",
    page: Page = 1,
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

    return attempt(request, level_url(target) + Listing(q, page).here(), work)


@on_both_levels(router, "POST", "/secrets/{key}/delete")
def delete_secret(
    request: Request,
    kind: Kind,
    ref: str,
    key: str,
    user: Checked,
    q: KeyFilter = "",
    page: Page = 1,
) -> Response:
    installation = web_state(request).installation
    target = level_target(installation, user.principal, kind, ref)

    def work() -> str:
        secrets.unset_secret(installation, user.principal, target, key)
        return f"Deleted {key} from {target.describe()}."

    return attempt(request, level_url(target) + Listing(q, page).here(), work)


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
    q: KeyFilter = "",
    page: Page = 1,
) -> Response:
    """A pasted .env, parsed and imported as `stacksafe secrets import` does: all or nothing.
    A refused paste is answered with the page itself, its error and the text as pasted, so it
    can be corrected rather than pasted again (a redirect would lose it: the text is never put
    in a cookie or a URL)."""
    installation = web_state(request).installation
    target = level_target(installation, user.principal, kind, ref)
    try:
        entries = transfer.parse(dotenv, "dotenv", "the pasted text")
        report = secrets.import_secrets(
            installation, user.principal, target, entries, provenance={"source": "web paste"}
        )
    except StacksafeError as exc:
        return _level_page(
            request,
            user,
            target,
            Listing(q, page),
            notice={"kind": "error", "text": exc.message},
            dotenv=dotenv,
            status_code=exc.http_status,
        )
    return redirect(
        request,
        level_url(target) + Listing(q, page).here(),
        "ok",
        f"Imported into {target.describe()}: {len(report.added)} added, "
        f"{len(report.changed)} changed, {len(report.unchanged)} unchanged.",
    )
