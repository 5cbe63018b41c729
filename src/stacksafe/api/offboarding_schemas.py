"""Response bodies of offboarding: a removed user or role, a deleted level, and what stays of
deleted levels (docs/offboarding.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "DeletedHistoryOut",
    "KeptVersionOut",
    "LevelDeletedOut",
    "RoleRemovedOut",
    "TombstoneOut",
    "UserRemovedOut",
]


class UserRemovedOut(BaseModel):
    """What removing a user took away (the user stays in the audit log, by email)."""

    email: str
    removed_at_iso: str
    tokens_revoked: list[str] = Field(description="Ids (tok_...) of the tokens revoked.")
    sessions_ended: int = Field(description="Web UI sessions ended.")
    accounts: list[str] = Field(description="Uids of the accounts they were a member of.")
    stacks: list[str] = Field(description="Uids of the stacks they held a role in.")


class RoleRemovedOut(BaseModel):
    email: str
    account_id: str = Field(description="The account's uid.")
    stack_uid: str | None = Field(
        description="The stack whose role was removed; null: the account membership."
    )
    role: str | None = Field(description="The role removed (null: only stack roles were).")
    stack_roles: dict[str, str] = Field(
        description="Stack uid → role, removed with an account membership."
    )


class LevelDeletedOut(BaseModel):
    """A deleted stack or account, and the keys whose values were destroyed first."""

    account_id: str = Field(description="The account's uid.")
    account_name: str
    stack_uid: str | None = Field(description="The deleted stack; null: the account was deleted.")
    stack_name: str | None
    stacks: list[str] = Field(description="Names of the stacks deleted with an account.")
    destroyed: dict[str, list[int]] = Field(
        description="Key (STACK/KEY for an account's stacks) → the versions destroyed."
    )


class TombstoneOut(BaseModel):
    """A deleted stack or account, whose history rows stay (model.Tombstone)."""

    kind: str = Field(description="stack or account")
    uid: str
    name: str = Field(description="The name it had (free for reuse since).")
    account_id: str = Field(description="The account's uid.")
    account_name: str
    account_deleted: bool
    environment: str | None = Field(description="A stack's environment; null for an account.")
    created_at_iso: str
    deleted_at_iso: str
    keys: int = Field(description="Keys whose history is kept.")
    versions: int = Field(description="Version rows kept (none holds a value).")


class KeptVersionOut(BaseModel):
    """One version row of a deleted level's secret (model.KeptVersion): no value."""

    key: str
    version: int
    action: str
    author: str
    created_at_iso: str
    destroyed_at_iso: str | None


class DeletedHistoryOut(BaseModel):
    level: TombstoneOut
    versions: list[KeptVersionOut] = Field(description="By key, then version.")
