"""The SDK's models of what offboarding took away: a removed user, a removed role, a deleted
stack or account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stacksafe.client.fields import Fields
from stacksafe.model import KeptVersion, Tombstone

__all__ = ["DeletedHistory", "DeletedLevel", "RemovedRole", "RemovedUser", "tombstone_from_json"]


@dataclass(frozen=True, slots=True)
class RemovedUser:
    """``UserRemovedOut``: the user's tokens revoked, sessions ended, memberships taken."""

    email: str
    removed_at: datetime
    tokens_revoked: tuple[str, ...]
    sessions_ended: int
    accounts: tuple[str, ...]  # account uids
    stacks: tuple[str, ...]  # stack uids

    @classmethod
    def from_json(cls, data: object) -> RemovedUser:
        f = Fields(data, "UserRemoved")
        return cls(
            email=f.text("email"),
            removed_at=f.moment("removed_at_iso"),
            tokens_revoked=f.texts("tokens_revoked"),
            sessions_ended=f.integer("sessions_ended"),
            accounts=f.texts("accounts"),
            stacks=f.texts("stacks"),
        )


@dataclass(frozen=True, slots=True)
class RemovedRole:
    """``RoleRemovedOut``: an account membership (with the stack roles in it) or a stack role."""

    email: str
    account_uid: str
    stack_uid: str | None  # None: the account membership
    role: str | None
    stack_roles: dict[str, str]

    @classmethod
    def from_json(cls, data: object) -> RemovedRole:
        f = Fields(data, "RoleRemoved")
        return cls(
            email=f.text("email"),
            account_uid=f.text("account_id"),
            stack_uid=f.text_or_none("stack_uid"),
            role=f.text_or_none("role"),
            stack_roles={str(k): str(v) for k, v in f.mapping("stack_roles").items()},
        )


@dataclass(frozen=True, slots=True)
class DeletedLevel:
    """``LevelDeletedOut``: a deleted stack or account, and the values destroyed first."""

    account_uid: str
    account_name: str
    stack_uid: str | None  # None: the account was deleted
    stack_name: str | None
    stacks: tuple[str, ...]  # names of the stacks deleted with an account
    destroyed: dict[str, tuple[int, ...]]  # key (STACK/KEY for an account's) -> versions

    @classmethod
    def from_json(cls, data: object) -> DeletedLevel:
        f = Fields(data, "LevelDeleted")
        destroyed = {
            str(k): tuple(int(v) for v in versions)
            for k, versions in f.mapping("destroyed").items()
        }
        return cls(
            account_uid=f.text("account_id"),
            account_name=f.text("account_name"),
            stack_uid=f.text_or_none("stack_uid"),
            stack_name=f.text_or_none("stack_name"),
            stacks=f.texts("stacks"),
            destroyed=destroyed,
        )


def tombstone_from_json(data: object) -> Tombstone:
    """``TombstoneOut``: a deleted stack or account (``stacksafe.model.Tombstone``)."""
    f = Fields(data, "Tombstone")
    return Tombstone(
        kind=f.text("kind"),
        uid=f.text("uid"),
        name=f.text("name"),
        account_uid=f.text("account_id"),
        account_name=f.text("account_name"),
        account_deleted=f.flag("account_deleted"),
        environment=f.text_or_none("environment"),
        created_at=f.moment("created_at_iso"),
        deleted_at=f.moment("deleted_at_iso"),
        keys=f.integer("keys"),
        versions=f.integer("versions"),
    )


@dataclass(frozen=True, slots=True)
class DeletedHistory:
    """``DeletedHistoryOut``: a deleted level and every version row of its own secrets, by key
    then version (``stacksafe.model.KeptVersion``: no value)."""

    level: Tombstone
    versions: tuple[KeptVersion, ...]

    @classmethod
    def from_json(cls, data: object) -> DeletedHistory:
        f = Fields(data, "DeletedHistory")
        return cls(
            level=tombstone_from_json(f.raw("level")),
            versions=tuple(
                KeptVersion(
                    key=v.text("key"),
                    version=v.integer("version"),
                    action=v.text("action"),
                    author=v.text("author"),
                    created_at=v.moment("created_at_iso"),
                    destroyed_at=v.moment_or_none("destroyed_at_iso"),
                )
                for v in f.objects("versions")
            ),
        )
