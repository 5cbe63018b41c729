"""The webhooks of a serving process: one delivery loop per webhook whose level is live
(api.cursor_streams over the webhooks table, core.webhooks.runtime)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from stacksafe.api.cursor_streams import CursorStreams
from stacksafe.core.streams.delivery import DeliveryLoop
from stacksafe.core.webhooks.runtime import (
    StoredWebhook,
    delivery_loop,
    live_webhooks,
    record_unopened,
)

__all__ = ["WebhookStreams"]


class WebhookStreams(CursorStreams[StoredWebhook]):
    kind = "webhook"

    def wanted(self) -> Mapping[Hashable, StoredWebhook]:
        # By (id, sealed URL, signing key): a webhook added again under its name is another.
        return {(w.id, w.sealed_url, w.signing_key): w for w in live_webhooks(self.installation)}

    def open(self, row: StoredWebhook) -> DeliveryLoop:
        return delivery_loop(self.installation, row, self.tuning)

    def name_of(self, row: StoredWebhook) -> str:
        return row.name

    def record_unopened(self, row: StoredWebhook, message: str) -> None:
        record_unopened(self.installation, row, message)
