"""``WebhookOut`` as the SDK returns it: a change-event webhook and its delivery state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stacksafe.client.fields import Fields
from stacksafe.model import iso8601

__all__ = ["Webhook"]


@dataclass(frozen=True, slots=True)
class Webhook:
    """A subscription to a stack's (or an account's) changes; ``origin``: its URL's scheme and
    authority (the path and query stay sealed on the server)."""

    name: str
    account_uid: str
    account_name: str
    stack_uid: str | None  # None: the account's own level and its stacks'
    stack_name: str | None
    origin: str
    signing_key: str  # the name of the secret that signs its POSTs
    paused: bool
    state: str  # delivering, paused, failing, stopped (stack deleted / account deleted)
    cursor: int
    behind: int
    last_delivered_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    created_at: datetime
    created_by: str

    @classmethod
    def from_json(cls, data: object) -> Webhook:
        f = Fields(data, "Webhook")
        return cls(
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

    def to_json(self) -> dict[str, object]:
        def moment(value: datetime | None) -> str | None:
            return None if value is None else iso8601(value)

        return {
            "name": self.name,
            "account_uid": self.account_uid,
            "account_name": self.account_name,
            "stack_uid": self.stack_uid,
            "stack_name": self.stack_name,
            "origin": self.origin,
            "signing_key": self.signing_key,
            "paused": self.paused,
            "state": self.state,
            "cursor": self.cursor,
            "behind": self.behind,
            "last_delivered_at_iso": moment(self.last_delivered_at),
            "last_error": self.last_error,
            "last_error_at_iso": moment(self.last_error_at),
            "created_at_iso": moment(self.created_at),
            "created_by": self.created_by,
        }
