"""Request and response bodies of the change events' webhooks (docs/api.md "Webhooks")."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["WebhookCreate", "WebhookOut"]


class WebhookCreate(BaseModel):
    """A subscription to the changes of a stack (``stack_uid``, or a stack's name with
    ``account_id`` when names repeat) or of an account (``account_id`` alone: its own level and
    its stacks')."""

    name: str = Field(max_length=64, description="1-64 of a-z 0-9 . _ -; unique in its account.")
    url: str = Field(
        max_length=2048,
        description="https:// (plain http only to the server's machine); its path and query "
        "are kept sealed and never shown.",
    )
    signing_key_secret: str = Field(
        max_length=255,
        description="The name of the level's secret whose value is the HMAC-SHA256 key; it "
        "must exist, and is read when a batch is signed.",
    )
    stack_uid: str | None = Field(default=None, max_length=255, description="Stack uid or name.")
    account_id: str | None = Field(default=None, max_length=255, description="Account uid or name.")


class WebhookOut(BaseModel):
    """A webhook and its delivery state (never its URL's path or query, nor a secret's value)."""

    name: str
    account_uid: str
    account_name: str
    stack_uid: str | None = Field(description="Null: the account's webhook.")
    stack_name: str | None
    origin: str = Field(description="The URL's scheme and authority.")
    signing_key: str = Field(description="The name of the secret that signs its POSTs.")
    paused: bool
    state: str = Field(
        description="delivering, paused, failing, or stopped (stack deleted / account deleted)."
    )
    cursor: int = Field(description="The last audit sequence it has passed.")
    behind: int = Field(description="Audit events after its cursor (changes or not).")
    last_delivered_at_iso: str | None
    last_error: str | None
    last_error_at_iso: str | None
    created_at_iso: str
    created_by: str
