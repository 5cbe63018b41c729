"""Accounts and stacks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from stacksafe.api.convert import Page, PerPage, account_out, page_of, stack_out
from stacksafe.api.deps import Caller, InstallationDep
from stacksafe.api.offboarding_schemas import (
    DeletedHistoryOut,
    LevelDeletedOut,
    TombstoneOut,
)
from stacksafe.api.routes import API_PREFIX
from stacksafe.api.schemas import (
    AccountCreate,
    AccountOut,
    Envelope,
    ListEnvelope,
    StackCreate,
    StackOut,
)
from stacksafe.core import deleted_levels, deletion, tenancy
from stacksafe.core.access import Action
from stacksafe.core.deletion import DeletedLevel
from stacksafe.core.guard import allow
from stacksafe.paging import DEFAULT_PER_PAGE

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX, tags=["accounts and stacks"])


@router.get("/accounts", response_model=ListEnvelope[AccountOut])
def list_accounts(
    installation: InstallationDep,
    actor: Caller,
    page: Page = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> ListEnvelope[AccountOut]:
    accounts = tenancy.list_accounts(installation, actor)
    stacks = tenancy.list_stacks(installation, actor)
    items, pagination = page_of(accounts, page, per_page)
    return ListEnvelope[AccountOut](
        response=[account_out(a, sum(s.account_id == a.id for s in stacks)) for a in items],
        count=pagination.count,
        pagination=pagination,
    )


@router.post("/accounts", response_model=Envelope[AccountOut], status_code=201)
def create_account(
    body: AccountCreate, installation: InstallationDep, actor: Caller
) -> Envelope[AccountOut]:
    """Create an account (the server owner only)."""
    account = tenancy.create_account(installation, actor, body.name)
    return Envelope[AccountOut](response=account_out(account, 0))


@router.get("/accounts/{account_id}", response_model=Envelope[AccountOut])
def get_account(
    account_id: Annotated[str, Path(description="Account uid or name.")],
    installation: InstallationDep,
    actor: Caller,
) -> Envelope[AccountOut]:
    account = tenancy.visible_target(installation, actor, account_ref=account_id).account
    allow(installation, actor, Action.DESCRIBE, account, None)
    count = len(tenancy.list_stacks(installation, actor, account.uid))
    return Envelope[AccountOut](response=account_out(account, count))


@router.get("/stacks", response_model=ListEnvelope[StackOut])
def list_stacks(
    installation: InstallationDep,
    actor: Caller,
    filter_name: str | None = None,
    filter_environment: str | None = None,
    account_id: str | None = None,
    page: Page = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> ListEnvelope[StackOut]:
    found = tenancy.list_stacks(installation, actor, account_id, filter_environment)
    if filter_name is not None:
        found = [s for s in found if s.name == filter_name]
    owners = {a.id: a for a in tenancy.list_accounts(installation, actor)}
    items, pagination = page_of(found, page, per_page)
    return ListEnvelope[StackOut](
        response=[stack_out(s, owners[s.account_id]) for s in items if s.account_id in owners],
        count=pagination.count,
        pagination=pagination,
    )


@router.get("/stacks/{stack_uid}", response_model=Envelope[StackOut])
def get_stack(stack_uid: str, installation: InstallationDep, actor: Caller) -> Envelope[StackOut]:
    target = tenancy.visible_target(installation, actor, stack_uid=stack_uid)
    assert target.stack is not None  # noqa: S101 - a stack was named
    allow(installation, actor, Action.DESCRIBE, target.account, target.stack)
    return Envelope[StackOut](response=stack_out(target.stack, target.account))


@router.post("/stacks", response_model=Envelope[StackOut], status_code=201)
def create_stack(
    body: StackCreate, installation: InstallationDep, actor: Caller
) -> Envelope[StackOut]:
    stack = tenancy.create_stack(installation, actor, body.account_id, body.name, body.environment)
    account = tenancy.find_account(installation, body.account_id)
    return Envelope[StackOut](response=stack_out(stack, account))


Force = Annotated[
    bool,
    Query(description="Destroy the values it holds first (each audited); without: refused, 409."),
]


def _deleted_out(deleted: DeletedLevel) -> LevelDeletedOut:
    return LevelDeletedOut(
        account_id=deleted.account.uid,
        account_name=deleted.account.name,
        stack_uid=None if deleted.stack is None else deleted.stack.uid,
        stack_name=None if deleted.stack is None else deleted.stack.name,
        stacks=list(deleted.stacks),
        destroyed={k: list(v) for k, v in deleted.destroyed.items()},
    )


@router.delete("/stacks/{stack_uid}", response_model=Envelope[LevelDeletedOut])
def delete_stack(
    stack_uid: Annotated[str, Path(max_length=64)],
    installation: InstallationDep,
    actor: Caller,
    force: Force = False,
) -> Envelope[LevelDeletedOut]:
    """Delete a stack (whoever may manage its account's stacks): refused (409, nothing changed)
    while it holds any value, current or in history, unless ``force``."""
    deleted = deletion.delete_stack(installation, actor, stack_uid, force=force)
    return Envelope[LevelDeletedOut](response=_deleted_out(deleted))


@router.delete("/accounts/{account_id}", response_model=Envelope[LevelDeletedOut])
def delete_account(
    account_id: Annotated[str, Path(description="Account uid or name.", max_length=255)],
    installation: InstallationDep,
    actor: Caller,
    force: Force = False,
) -> Envelope[LevelDeletedOut]:
    """Delete an account and its stacks (the server owner): refused (409, nothing changed)
    while any of them holds a value, unless ``force``."""
    deleted = deletion.delete_account(installation, actor, account_id, force=force)
    return Envelope[LevelDeletedOut](response=_deleted_out(deleted))


@router.get("/deleted", response_model=ListEnvelope[TombstoneOut])
def list_deleted(
    installation: InstallationDep,
    actor: Caller,
    account_id: Annotated[
        str | None,
        Query(
            description="Account uid or name: its deleted stacks (who may manage its stacks). "
            "Without: every deleted account and stack (the server owner).",
            max_length=255,
        ),
    ] = None,
    page: Page = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> ListEnvelope[TombstoneOut]:
    """Deleted stacks and accounts, oldest deletion first: their rows stay, marked."""
    found = deleted_levels.list_deleted(installation, actor, account_id)
    items, pagination = page_of(found, page, per_page)
    return ListEnvelope[TombstoneOut](
        response=[TombstoneOut.model_validate(t.to_json()) for t in items],
        count=pagination.count,
        pagination=pagination,
    )


@router.get("/deleted/{uid}", response_model=Envelope[DeletedHistoryOut])
def get_deleted(
    uid: Annotated[str, Path(max_length=64)], installation: InstallationDep, actor: Caller
) -> Envelope[DeletedHistoryOut]:
    """A deleted stack or account and every version row of its own secrets (no value)."""
    level, versions = deleted_levels.deleted_history(installation, actor, uid)
    return Envelope[DeletedHistoryOut](
        response=DeletedHistoryOut.model_validate(
            {"level": level.to_json(), "versions": [v.to_json() for v in versions]}
        )
    )
