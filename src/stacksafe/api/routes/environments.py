"""Environment separation: restrictions of account secrets, drift between two stacks, copying."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from stacksafe.api.deps import Caller, InstallationDep
from stacksafe.api.routes import API_PREFIX
from stacksafe.api.schemas import (
    DiffEntryOut,
    Envelope,
    ImportReportOut,
    ListEnvelope,
    Pagination,
    SecretEnvironments,
    SecretsCopy,
)
from stacksafe.core import promotion, secrets
from stacksafe.core.tenancy import visible_target

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX, tags=["environments"])

AccountRef = Annotated[str, Path(description="Account uid or name.")]
StackUid = Annotated[str, Path(max_length=64)]


@router.get(
    "/accounts/{account_id}/secrets/{key}/environments",
    response_model=Envelope[SecretEnvironments],
)
def get_environments(
    account_id: AccountRef, key: str, installation: InstallationDep, actor: Caller
) -> Envelope[SecretEnvironments]:
    """The environments whose stacks inherit this account secret (null: all)."""
    target = visible_target(installation, actor, account_ref=account_id)
    found = secrets.environments_of(installation, actor, target, key)
    return Envelope[SecretEnvironments](response=SecretEnvironments(environments=found))


@router.put(
    "/accounts/{account_id}/secrets/{key}/environments",
    response_model=Envelope[SecretEnvironments],
)
def put_environments(
    account_id: AccountRef,
    key: str,
    body: SecretEnvironments,
    installation: InstallationDep,
    actor: Caller,
) -> Envelope[SecretEnvironments]:
    """Restrict an account secret to stacks of these environments (null or []: all)."""
    target = visible_target(installation, actor, account_ref=account_id)
    found = secrets.restrict_secret(installation, actor, target, key, body.environments or [])
    return Envelope[SecretEnvironments](response=SecretEnvironments(environments=found))


@router.get("/stacks/{stack_uid}/diff", response_model=ListEnvelope[DiffEntryOut])
def diff(
    stack_uid: StackUid,
    other: Annotated[str, Query(max_length=64, description="The uid of the other stack.")],
    installation: InstallationDep,
    actor: Caller,
) -> ListEnvelope[DiffEntryOut]:
    """Keys missing on either side and keys whose values differ (compared by keyed
    fingerprint; never values). Needs reveal permission on both stacks; audited as reveals."""
    left = visible_target(installation, actor, stack_uid=stack_uid)
    right = visible_target(installation, actor, stack_uid=other)
    entries = [
        DiffEntryOut.model_validate(e.to_json())
        for e in promotion.diff_stacks(installation, actor, left, right)
    ]
    count = len(entries)
    pagination = Pagination(
        previous=None, next=None, current=1, per_page=max(count, 1), count=count, pages=1
    )
    return ListEnvelope[DiffEntryOut](response=entries, count=count, pagination=pagination)


@router.post("/stacks/{stack_uid}/secrets/copy", response_model=Envelope[ImportReportOut])
def copy(
    stack_uid: StackUid, body: SecretsCopy, installation: InstallationDep, actor: Caller
) -> Envelope[ImportReportOut]:
    """Copy another stack's effective values into this stack's own level, in one transaction.
    From a production stack into a non-production one only with allow_production_source."""
    destination = visible_target(installation, actor, stack_uid=stack_uid)
    source = visible_target(installation, actor, stack_uid=body.from_stack)
    report = promotion.copy_secrets(
        installation,
        actor,
        source,
        destination,
        body.keys,
        allow_production_source=body.allow_production_source,
    )
    return Envelope[ImportReportOut](
        response=ImportReportOut(
            added=report.added, changed=report.changed, unchanged=report.unchanged
        )
    )
