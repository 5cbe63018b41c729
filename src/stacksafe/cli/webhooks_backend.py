"""Where `stacksafe webhooks` acts: the server at ``STACKSAFE_ADDR`` (the SDK), else the
installation in the data directory (core.webhooks, as the local operator). Both answer in the
shared ``stacksafe.model.Webhook``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from stacksafe.cli.backend import remote_client
from stacksafe.model import Webhook

if TYPE_CHECKING:
    from stacksafe.client import Client
    from stacksafe.core.access import Principal
    from stacksafe.core.installation import Installation

__all__ = ["WebhooksBackend", "webhooks_backend"]


class WebhooksBackend(Protocol):
    def add(
        self, name: str, *, url: str, signing_key: str, stack: str | None, account: str | None
    ) -> Webhook: ...

    def list(self, account: str | None) -> list[Webhook]: ...

    def remove(self, name: str, account: str | None) -> Webhook: ...

    def set_paused(self, name: str, paused: bool, account: str | None) -> Webhook: ...


class RemoteWebhooks:
    def __init__(self, client: Client) -> None:
        self.client = client

    def add(
        self, name: str, *, url: str, signing_key: str, stack: str | None, account: str | None
    ) -> Webhook:
        return self.client.add_webhook(
            name, url=url, signing_key_secret=signing_key, stack=stack, account=account
        )

    def list(self, account: str | None) -> list[Webhook]:
        return self.client.webhooks(account=account)

    def remove(self, name: str, account: str | None) -> Webhook:
        return self.client.remove_webhook(name, account=account)

    def set_paused(self, name: str, paused: bool, account: str | None) -> Webhook:
        change = self.client.pause_webhook if paused else self.client.resume_webhook
        return change(name, account=account)


class LocalWebhooks:
    def __init__(self, installation: Installation, actor: Principal) -> None:
        self.installation, self.actor = installation, actor

    def add(
        self, name: str, *, url: str, signing_key: str, stack: str | None, account: str | None
    ) -> Webhook:
        from stacksafe.core.webhooks import subscriptions

        added = subscriptions.add_webhook(
            self.installation,
            self.actor,
            name,
            url=url,
            signing_key=signing_key,
            stack=stack,
            account=account,
        )
        return added

    def list(self, account: str | None) -> list[Webhook]:
        from stacksafe.core.webhooks import subscriptions

        return subscriptions.list_webhooks(self.installation, self.actor, account)

    def remove(self, name: str, account: str | None) -> Webhook:
        from stacksafe.core.webhooks import subscriptions

        removed = subscriptions.remove_webhook(self.installation, self.actor, name, account)
        return removed

    def set_paused(self, name: str, paused: bool, account: str | None) -> Webhook:
        from stacksafe.core.webhooks import subscriptions

        changed = subscriptions.set_paused(self.installation, self.actor, name, paused, account)
        return changed


@contextmanager
def webhooks_backend(data_dir: Path | None) -> Iterator[WebhooksBackend]:
    with remote_client() as client:
        if client is not None:
            yield RemoteWebhooks(client)
            return
    # Imported here: the core is not needed over HTTP.
    from stacksafe.cli.local_backend import LocalBackend

    with LocalBackend(data_dir) as local:
        yield LocalWebhooks(local.installation, local.actor)
