"""`/accounts/{id}/audit_logs` (administrators) and `/audit_logs` (the server owner)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from stacksafe.api.convert import Page, PerPage
from stacksafe.api.deps import Caller, InstallationDep
from stacksafe.api.routes import API_PREFIX
from stacksafe.api.schemas import (
    AuditEventOut,
    AuditVerifyOut,
    Envelope,
    ListEnvelope,
    Pagination,
)
from stacksafe.core import audit_events
from stacksafe.core.audit_access import WHOLE_LOG_ONLY_OWNER, audit_log_to_read
from stacksafe.core.audit_chain import verify_chain
from stacksafe.core.audit_checkpoint import parse_expected_head
from stacksafe.core.guard import require_owner
from stacksafe.core.tenancy import visible_target
from stacksafe.model import AuditEvent
from stacksafe.paging import DEFAULT_PER_PAGE, offset_of

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX, tags=["audit"])

Since = Annotated[datetime | None, Query(description="ISO 8601; events at or after it.")]


def _page(
    events: list[AuditEvent], page: int, per_page: int, more: bool
) -> ListEnvelope[AuditEventOut]:
    pagination = Pagination(
        previous=page - 1 if page > 1 else None,
        next=page + 1 if more else None,
        current=page,
        per_page=per_page,
        count=len(events),
        pages=page + (1 if more else 0),
    )
    return ListEnvelope[AuditEventOut](
        response=[AuditEventOut.model_validate(e.to_json()) for e in events],
        count=len(events),
        pagination=pagination,
    )


def _events(
    installation: InstallationDep,
    account_uid: str | None,
    since: datetime | None,
    actor: str | None,
    key: str | None,
    page: int,
    per_page: int,
) -> ListEnvelope[AuditEventOut]:
    found = list(
        audit_events.list_events(
            installation,
            account_uid=account_uid,
            since=since,
            actor=actor,
            key=key,
            limit=per_page + 1,
            offset=offset_of(page, per_page),
        )
    )
    return _page(found[:per_page], page, per_page, len(found) > per_page)


@router.get("/accounts/{account_id}/audit_logs", response_model=ListEnvelope[AuditEventOut])
def account_audit_logs(
    account_id: str,
    installation: InstallationDep,
    caller: Caller,
    since: Since = None,
    actor: str | None = None,
    key: str | None = None,
    page: Page = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> ListEnvelope[AuditEventOut]:
    """The account's events, newest first."""
    target = visible_target(installation, caller, account_ref=account_id)
    audit_log_to_read(installation, caller, target.account)
    return _events(installation, target.account.uid, since, actor, key, page, per_page)


ExpectHead = Annotated[
    list[str] | None,
    Query(description="SEQ:HASH (an earlier verify's head) the log must still hold; repeatable."),
]


@router.get("/audit_logs/verify", response_model=Envelope[AuditVerifyOut])
def verify(
    installation: InstallationDep,
    caller: Caller,
    expect_head: ExpectHead = None,
    no_anchor: Annotated[
        bool,
        Query(description="Intact without any checkpoint or expect_head (the chain alone)."),
    ] = False,
) -> Envelope[AuditVerifyOut]:
    """Walk the hash chain and compare its end with the server's checkpoint and the heads
    given (the server owner only); with neither, not intact (``unanchored``) unless
    ``no_anchor``."""
    require_owner(installation, caller, "audit.verify", WHOLE_LOG_ONLY_OWNER, admin_scope=True)
    expected = [parse_expected_head(text) for text in expect_head or []]
    report = verify_chain(installation, expected=expected, require_anchor=not no_anchor)
    return Envelope[AuditVerifyOut](
        response=AuditVerifyOut(
            intact=report.intact,
            events=report.events,
            first_bad_seq=report.first_bad_seq,
            problem=report.problem,
            head=report.head,
            unanchored=report.unanchored,
        )
    )


@router.get("/audit_logs", response_model=ListEnvelope[AuditEventOut])
def all_audit_logs(
    installation: InstallationDep,
    caller: Caller,
    since: Since = None,
    actor: str | None = None,
    key: str | None = None,
    page: Page = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> ListEnvelope[AuditEventOut]:
    """Every event, newest first (the server owner only)."""
    audit_log_to_read(installation, caller, None)
    return _events(installation, None, since, actor, key, page, per_page)
