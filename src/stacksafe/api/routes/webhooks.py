"""Change-event webhooks: add, list (with their state), remove, pause and resume, for whoever
may manage the account's stacks (core.webhooks.subscriptions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from stacksafe.api.convert import Page, PerPage, page_of
from stacksafe.api.deps import Caller, InstallationDep
from stacksafe.api.routes import API_PREFIX
from stacksafe.api.schemas import Envelope, ListEnvelope
from stacksafe.api.webhook_schemas import WebhookCreate, WebhookOut
from stacksafe.core.webhooks import subscriptions
from stacksafe.model import Webhook
from stacksafe.paging import DEFAULT_PER_PAGE

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX, tags=["webhooks"])

AccountQuery = Annotated[
    str | None,
    Query(
        description="Account uid or name: needed when webhooks of that name are in several.",
        max_length=255,
    ),
]
Name = Annotated[str, Path(max_length=64)]


def _out(hook: Webhook) -> WebhookOut:
    return WebhookOut.model_validate(hook.to_json())


@router.get("/webhooks", response_model=ListEnvelope[WebhookOut])
def list_webhooks(
    installation: InstallationDep,
    actor: Caller,
    account_id: Annotated[
        str | None,
        Query(
            description="Account uid or name: its webhooks (who may manage its stacks). "
            "Without: every webhook the caller may manage.",
            max_length=255,
        ),
    ] = None,
    page: Page = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> ListEnvelope[WebhookOut]:
    found = subscriptions.list_webhooks(installation, actor, account_id)
    items, pagination = page_of(found, page, per_page)
    return ListEnvelope[WebhookOut](
        response=[_out(w) for w in items], count=pagination.count, pagination=pagination
    )


@router.post("/webhooks", response_model=Envelope[WebhookOut], status_code=201)
def add_webhook(
    body: WebhookCreate, installation: InstallationDep, actor: Caller
) -> Envelope[WebhookOut]:
    """Subscribe a URL to the changes of a stack or an account made from now on."""
    added = subscriptions.add_webhook(
        installation,
        actor,
        body.name,
        url=body.url,
        signing_key=body.signing_key_secret,
        stack=body.stack_uid,
        account=body.account_id,
    )
    return Envelope[WebhookOut](response=_out(added))


@router.delete("/webhooks/{name}", response_model=Envelope[WebhookOut])
def remove_webhook(
    name: Name, installation: InstallationDep, actor: Caller, account_id: AccountQuery = None
) -> Envelope[WebhookOut]:
    """Stop it and forget it; answers it as it was."""
    removed = subscriptions.remove_webhook(installation, actor, name, account_id)
    return Envelope[WebhookOut](response=_out(removed))


@router.post("/webhooks/{name}/pause", response_model=Envelope[WebhookOut])
def pause_webhook(
    name: Name, installation: InstallationDep, actor: Caller, account_id: AccountQuery = None
) -> Envelope[WebhookOut]:
    """Hold its deliveries; the changes made meanwhile are sent when it is resumed."""
    paused = subscriptions.set_paused(installation, actor, name, True, account_id)
    return Envelope[WebhookOut](response=_out(paused))


@router.post("/webhooks/{name}/resume", response_model=Envelope[WebhookOut])
def resume_webhook(
    name: Name, installation: InstallationDep, actor: Caller, account_id: AccountQuery = None
) -> Envelope[WebhookOut]:
    resumed = subscriptions.set_paused(installation, actor, name, False, account_id)
    return Envelope[WebhookOut](response=_out(resumed))
