"""What a serving process delivers of the webhooks: the ones whose level is live, and a delivery
loop for each (core.streams.delivery over the webhooks' cursors, with the level's changes as
its batches and the signed POST as its sink). No permission is asked: the server's own thread.
"""

from __future__ import annotations

from stacksafe.core.installation import Installation
from stacksafe.core.streams.config import open_named
from stacksafe.core.streams.delivery import DeliveryLoop, Tuning
from stacksafe.core.streams.delivery import record_unopened as record_stream_unopened
from stacksafe.core.webhooks.events import Level, LevelChanges
from stacksafe.core.webhooks.sink import WebhookSink
from stacksafe.core.webhooks.subscriptions import sealed_url_name
from stacksafe.store import webhooks as queries
from stacksafe.store.webhooks import StoredWebhook

__all__ = ["StoredWebhook", "delivery_loop", "level_of", "live_webhooks", "record_unopened"]


def live_webhooks(installation: Installation) -> list[StoredWebhook]:
    with installation.store.read() as conn:
        return queries.live_webhooks(conn)


def level_of(hook: StoredWebhook) -> Level:
    return Level(
        hook.account_id, hook.account_uid, hook.account_name, hook.stack_uid, hook.stack_name
    )


def delivery_loop(
    installation: Installation,
    hook: StoredWebhook,
    tuning: Tuning | None = None,
    holder: str | None = None,
) -> DeliveryLoop:
    """A loop (not started) delivering ``hook``; ``IntegrityError`` if its sealed URL was
    altered."""
    tuning = tuning or Tuning()
    url = open_named(installation, sealed_url_name(hook.account_uid, hook.name), hook.sealed_url)
    level = level_of(hook)
    sink = WebhookSink(
        installation, hook.name, level, hook.signing_key, url.decode(), installation.outbound
    )
    return DeliveryLoop(
        installation,
        hook.id,
        sink,
        tuning=tuning,
        holder=holder,
        name=hook.name,
        cursors=queries.CURSORS,
        batcher=LevelChanges(installation, level, tuning),
        kind="webhook",
    )


def record_unopened(installation: Installation, hook: StoredWebhook, message: str) -> None:
    """``hook`` cannot be opened by this server: its last error says why."""
    record_stream_unopened(installation, hook.id, message, queries.CURSORS)
