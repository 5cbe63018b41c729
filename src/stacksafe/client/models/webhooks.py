"""``WebhookOut`` as the SDK returns it: ``stacksafe.model.Webhook`` (the type the core lists
webhooks in too), parsed from the API's JSON here."""

from __future__ import annotations

from stacksafe.client.fields import Fields
from stacksafe.model import Webhook

__all__ = ["webhook_from_json"]


def webhook_from_json(data: object) -> Webhook:
    f = Fields(data, "Webhook")
    return Webhook(
        name=f.text("name"),
        account_uid=f.text("account_uid"),
        account_name=f.text("account_name"),
        stack_uid=f.text_or_none("stack_uid"),
        stack_name=f.text_or_none("stack_name"),
        origin=f.text("origin"),
        signing_key=f.text("signing_key"),
        paused=f.flag("paused"),
        state=f.text("state"),
        cursor=f.integer("cursor"),
        behind=f.integer("behind"),
        last_delivered_at=f.moment_or_none("last_delivered_at_iso"),
        last_error=f.text_or_none("last_error"),
        last_error_at=f.moment_or_none("last_error_at_iso"),
        created_at=f.moment("created_at_iso"),
        created_by=f.text("created_by"),
    )
