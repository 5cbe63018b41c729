"""What stays of deleted stacks and accounts: their tombstones and the version rows of their
secrets (core.deletion marks them; no value is left in any).

Whoever may manage an account's stacks (and so delete them) sees its deleted stacks; deleted
accounts, and the stacks deleted with them, are the server owner's, as deleting them was.
Unknown and invisible uids are the same ``NotFound``, so probing reveals nothing.
"""

from __future__ import annotations

from stacksafe.core.access import Action, Principal
from stacksafe.core.guard import allow, require_owner
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import visible_target
from stacksafe.core.validation import unstorable
from stacksafe.errors import Forbidden, NotFound
from stacksafe.model import KeptVersion, Tombstone
from stacksafe.store import deleted_levels as queries
from stacksafe.store import tenancy as tenancy_queries

__all__ = ["deleted_history", "list_deleted"]


def list_deleted(
    installation: Installation, actor: Principal, account_ref: str | None = None
) -> list[Tombstone]:
    """The deleted stacks of a live account (``account_ref``, a uid or name), or, for the server
    owner, every deleted account and stack; oldest deletion first."""
    if account_ref is None:
        _owner_only(installation, actor, {})
        with installation.store.read() as conn:
            return [row.shown for row in queries.tombstones(conn)]
    account = visible_target(installation, actor, account_ref=account_ref).account
    allow(installation, actor, Action.MANAGE_STACKS, account, None, deleted=True)
    with installation.store.read() as conn:
        return [row.shown for row in queries.tombstones(conn, account.id)]


def deleted_history(
    installation: Installation, actor: Principal, uid: str
) -> tuple[Tombstone, list[KeptVersion]]:
    """A deleted stack or account (by uid) and every version row of its own secrets, by key
    then version."""
    with installation.store.read() as conn:
        found = None if unstorable(uid) else queries.tombstone_by_uid(conn, uid)
        live_account = (
            None
            if found is None or found.shown.account_deleted
            else tenancy_queries.account_by_id(conn, found.account_id)
        )
    missing = NotFound(f"no deleted stack or account has uid {uid!r}")
    if found is None:
        raise missing
    if live_account is None:
        # A deleted account's (or a stack deleted with it) is the owner's: anyone else is told
        # what an unknown uid tells, so uids of deleted accounts cannot be probed.
        try:
            _owner_only(installation, actor, {"uid": uid})
        except Forbidden:
            if actor.is_owner:
                raise
            raise missing from None
    else:
        try:
            visible_target(installation, actor, account_ref=live_account.uid)
        except NotFound:
            raise missing from None
        allow(installation, actor, Action.MANAGE_STACKS, live_account, None, deleted=uid)
    with installation.store.read() as conn:
        return found.shown, queries.kept_versions(conn, found.account_id, found.stack_id)


def _owner_only(installation: Installation, actor: Principal, detail: dict[str, object]) -> None:
    require_owner(
        installation,
        actor,
        "deleted.read",
        "only the server owner may read deleted accounts (and the stacks deleted with them)",
        admin_scope=True,
        detail=detail,
    )
