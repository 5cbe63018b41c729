"""The SDK's change-event webhooks (docs/sdk.md "Webhooks"), a part of ``stacksafe.Client``:
subscribing a URL to a stack's or an account's changes, listing, pausing and removing them."""

from __future__ import annotations

from typing import Any

from stacksafe.client.models.webhooks import webhook_from_json
from stacksafe.client.transport import path_segment
from stacksafe.model import Webhook

__all__ = ["Webhooks"]


class Webhooks:
    """Mixed into ``Client``, which answers ``_answer`` (one API call, its JSON answer)."""

    def _answer(self, method: str, path: str, **kwargs: Any) -> object:
        raise NotImplementedError  # pragma: no cover - Client's

    def _pages(self, path: str, params: dict[str, str]) -> list[object]:
        raise NotImplementedError  # pragma: no cover - Client's

    def webhooks(self, *, account: str | None = None) -> list[Webhook]:
        """The webhooks the caller may manage (of ``account``, uid or name, when given)."""
        params = {} if account is None else {"account_id": account}
        return [webhook_from_json(w) for w in self._pages("/webhooks", params)]

    def add_webhook(
        self,
        name: str,
        *,
        url: str,
        signing_key_secret: str,
        stack: str | None = None,
        account: str | None = None,
    ) -> Webhook:
        """POST the changes of ``stack`` (uid, or name with ``account``) or of ``account``
        (alone: its own level and its stacks') made from now on to ``url``, signed with the
        value of the level's secret ``signing_key_secret`` (which must exist)."""
        body = {
            "name": name,
            "url": url,
            "signing_key_secret": signing_key_secret,
            "stack_uid": stack,
            "account_id": account,
        }
        return webhook_from_json(self._answer("POST", "/webhooks", json=body))

    def remove_webhook(self, name: str, *, account: str | None = None) -> Webhook:
        """Stop and forget it; it as it was."""
        return self._webhook("DELETE", name, "", account)

    def pause_webhook(self, name: str, *, account: str | None = None) -> Webhook:
        """Hold its deliveries (the changes made meanwhile are sent on resuming)."""
        return self._webhook("POST", name, "/pause", account)

    def resume_webhook(self, name: str, *, account: str | None = None) -> Webhook:
        return self._webhook("POST", name, "/resume", account)

    def _webhook(self, method: str, name: str, tail: str, account: str | None) -> Webhook:
        params = None if account is None else {"account_id": account}
        path = f"/webhooks/{path_segment(name)}{tail}"
        return webhook_from_json(self._answer(method, path, params=params))
