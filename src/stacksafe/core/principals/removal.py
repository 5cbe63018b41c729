"""Offboarding: removing a user, or one of their roles.

Removing a user ends their web sessions, revokes every token of theirs and deletes every role
they hold, in one transaction with its audit event; the row stays, marked removed (revision
0015), so their tokens' and sessions' foreign keys hold and the audit log's events keep naming
them. Each of those changes replaces the principals revision (migration 0008), so every server
drops what it kept for the user's tokens on its very next request (core.known_tokens).

Giving the same email a role again later (``create_user``) clears the mark on the same row: the
user comes back with that role only, no token and no password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stacksafe.core.access import Action, Principal
from stacksafe.core.audit import record
from stacksafe.core.guard import allow, refuse, require_owner
from stacksafe.core.installation import Installation
from stacksafe.core.principals.users import EMAIL, user_named
from stacksafe.core.tenancy import visible_stack, visible_target
from stacksafe.errors import Forbidden, InvalidInput, NotFound
from stacksafe.model import Account, Stack
from stacksafe.store import Connection
from stacksafe.store import principals as queries
from stacksafe.store import sessions as session_queries
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store.principals import StoredUser

__all__ = ["RemovedRole", "RemovedUser", "remove_account_role", "remove_stack_role", "remove_user"]


@dataclass(frozen=True, slots=True)
class RemovedUser:
    email: str
    removed_at: datetime
    tokens_revoked: tuple[str, ...]  # token uids
    sessions_ended: int
    accounts: tuple[str, ...]  # uids of the accounts they were a member of
    stacks: tuple[str, ...]  # uids of the stacks they held a role in


@dataclass(frozen=True, slots=True)
class RemovedRole:
    email: str
    account: Account
    stack: Stack | None  # None: the account membership
    role: str | None  # the role removed (None: only stack roles were)
    stack_roles: dict[str, str]  # stack uid -> role, removed with an account membership


def remove_user(installation: Installation, actor: Principal, email: str) -> RemovedUser:
    """Offboard ``email`` (the server owner only, with an 'admin' token): sessions ended,
    tokens revoked, roles deleted, the user marked removed; audited as ``user.remove``."""
    require_owner(
        installation,
        actor,
        "user.remove",
        "only the server owner may remove users (account administrators: users remove-role)",
        admin_scope=True,
        detail={"user": email},
    )
    if not EMAIL.fullmatch(email):
        # ``jwt:<name>``, a JWT role's user (core.workload.roles), goes with its role.
        raise InvalidInput(
            f"{email!r} is not a user's email (a JWT role's user goes with its role: "
            "stacksafe auth jwt remove-role NAME)"
        )
    with installation.store.read() as conn:
        if user_named(conn, email).is_owner:
            raise refuse(
                installation,
                actor,
                "user.remove",
                Forbidden("the server owner cannot be removed"),
                detail={"user": email},
            )

    def work(conn: Connection) -> RemovedUser:
        user = user_named(conn, email)  # again, in the transaction: it may have gone meanwhile
        now = installation.clock()
        revoked = queries.revoke_tokens_of(conn, user.id, now)
        ended = session_queries.end_sessions_of(conn, user.id, now)
        account_ids, stack_ids = queries.delete_roles_of(conn, user.id)
        queries.mark_removed(conn, user.id, now)
        accounts = [a.uid for i in account_ids if (a := tenancy_queries.account_by_id(conn, i))]
        stacks = [s.uid for i in stack_ids if (s := tenancy_queries.stack_by_id(conn, i))]
        record(
            conn,
            installation,
            actor,
            "user.remove",
            detail={
                "user": email,
                "tokens_revoked": revoked,
                "sessions_ended": ended,
                "accounts": accounts,
                "stacks": stacks,
            },
        )
        return RemovedUser(email, now, tuple(revoked), ended, tuple(accounts), tuple(stacks))

    return installation.store.transact(work, f"removing user {email!r}")


def _not_a_role_user(email: str) -> None:
    if email.startswith("jwt:"):
        raise InvalidInput(
            f"{email[:80]!r} is a JWT role's user: its role goes with the role "
            "(stacksafe auth jwt remove-role NAME)"
        )


def remove_account_role(
    installation: Installation, actor: Principal, email: str, account_ref: str
) -> RemovedRole:
    """Take ``email`` out of an account: their membership and their roles in its stacks (the
    account's administrators, as for giving one); audited as ``membership.remove``."""
    _not_a_role_user(email)
    account = visible_target(installation, actor, account_ref=account_ref).account
    allow(installation, actor, Action.MANAGE_USERS, account, None, user=email)

    missing = NotFound(f"user {email!r} has no role in account {account.name!r}")

    def work(conn: Connection) -> RemovedRole:
        # A user who does not exist has no role either: one answer for both, so an account's
        # administrator learns nothing about the users of other accounts.
        user = _user_or(conn, email, missing)
        role = queries.delete_account_role(conn, user.id, account.id)
        held = queries.delete_stack_roles_in(conn, user.id, account.id)
        if role is None and not held:
            raise missing
        stack_roles = {
            s.uid: r for i, r in held.items() if (s := tenancy_queries.stack_by_id(conn, i))
        }
        record(
            conn,
            installation,
            actor,
            "membership.remove",
            account=account,
            detail={"user": email, "role": role, "stack_roles": stack_roles},
        )
        return RemovedRole(email, account, None, role, stack_roles)

    return installation.store.transact(work, f"removing {email!r} from {account.name!r}")


def remove_stack_role(
    installation: Installation,
    actor: Principal,
    email: str,
    stack_ref: str,
    account_ref: str | None = None,
) -> RemovedRole:
    """Delete ``email``'s role in one stack (the account role applies there again); the
    stack's account administrators may; audited as ``stack_role.remove``."""
    _not_a_role_user(email)
    stack = visible_stack(installation, actor, stack_ref, account_ref)
    target = visible_target(installation, actor, stack_uid=stack.uid)
    account = target.account
    allow(installation, actor, Action.MANAGE_USERS, account, None, user=email, stack_uid=stack.uid)

    missing = NotFound(f"user {email!r} has no role of its own in stack {stack.name!r}")

    def work(conn: Connection) -> RemovedRole:
        user = _user_or(conn, email, missing)
        role = queries.delete_stack_role(conn, user.id, stack.id)
        if role is None:
            raise missing
        record(
            conn,
            installation,
            actor,
            "stack_role.remove",
            account=account,
            stack=stack,
            detail={"user": email, "role": role},
        )
        return RemovedRole(email, account, stack, role, {})

    return installation.store.transact(work, f"removing {email!r}'s role in {stack.name!r}")


def _user_or(conn: Connection, email: str, missing: NotFound) -> StoredUser:
    try:
        return user_named(conn, email)
    except NotFound:
        raise missing from None
