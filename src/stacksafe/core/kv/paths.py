"""KV paths: ``<account>`` or ``<account>/<stack>``, resolved for the asker."""

from __future__ import annotations

from dataclasses import dataclass

from stacksafe.core.access import Principal, can_see_stack
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import Target, visible_target
from stacksafe.errors import Forbidden, InvalidInput, NotFound
from stacksafe.store import tenancy as queries

__all__ = [
    "PERMISSION_DENIED",
    "KvPath",
    "known_stack_uid",
    "kv_path",
    "kv_target",
    "without_nul",
]

# Vault's words for a token that may not use a path, and for one that is not valid at all.
PERMISSION_DENIED = "permission denied"


@dataclass(frozen=True, slots=True)
class KvPath:
    """A path inside the mount: the account (name or uid) and the stack (name or uid; None:
    the account's own level). Stack names may hold ``/``: everything after the first segment."""

    account: str
    stack: str | None

    def __str__(self) -> str:
        return self.account if self.stack is None else f"{self.account}/{self.stack}"


def without_nul(text: str) -> str:
    """``text``, refused if it holds a NUL: no name or uid does, and PostgreSQL cannot look
    one up (the same answer on every database)."""
    if "\x00" in text:
        raise InvalidInput("a path cannot hold a NUL character (\\x00); remove it")
    return text


def kv_path(text: str) -> KvPath:
    """``text`` (without the mount) as a path; ``NotFound`` when it names nothing."""
    cleaned = without_nul(text).strip("/")
    if not cleaned:
        raise NotFound("no path given: paths are <account> or <account>/<stack>")
    account, _, stack = cleaned.partition("/")
    return KvPath(account, stack or None)


# Stack uids as paths named them (Installation.kv_stack_uids): names and uids never change, so
# a path once resolved names the same stack; whether an asker may see it is checked on every
# read all the same (core.reveal). Bounded: cleared when full.
_KNOWN_MAX = 10_000


def known_stack_uid(installation: Installation, path: KvPath) -> str | None:
    """The uid of the stack ``path`` named when it was last resolved (None: not yet)."""
    if path.stack is None:
        return None
    return installation.kv_stack_uids.get((path.account, path.stack))


def _remember(installation: Installation, path: KvPath, uid: str) -> None:
    known = installation.kv_stack_uids
    if len(known) >= _KNOWN_MAX:
        known.clear()
    known[path.account, path.stack or ""] = uid


def kv_target(
    installation: Installation, actor: Principal, path: KvPath, *, for_reading: bool = False
) -> Target:
    """The level ``path`` names, if ``actor`` may know it exists.

    An account the actor has no relation to, or none at all, is ``Forbidden`` ("permission
    denied", as Vault answers for any path a token may not use: probing reveals nothing); a
    visible account without that stack is ``NotFound`` naming the stack."""
    try:
        account = visible_target(installation, actor, account_ref=path.account).account
    except NotFound:
        raise Forbidden(PERMISSION_DENIED) from None
    if path.stack is None:
        return Target(account)
    with installation.store.read() as conn:
        found = queries.stacks_by_name(conn, path.stack, account.id) or [
            s for s in [queries.stack_by_uid(conn, path.stack)] if s and s.account_id == account.id
        ]
    visible = [s for s in found if can_see_stack(actor, s)]
    if not visible:
        raise NotFound(
            f"stack {path.stack!r} does not exist in account {account.name!r}; create it with: "
            f"stacksafe stacks create {path.stack} --account {account.name} --environment <env>"
        )
    _remember(installation, path, visible[0].uid)
    if for_reading:  # with the level's revision, so the read can use what is kept
        return visible_target(installation, actor, stack_uid=visible[0].uid, for_reading=True)
    return Target(account, visible[0])
