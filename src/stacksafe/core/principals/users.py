"""Users and their roles: the server owner, grants in accounts and stacks, listing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from stacksafe.core.access import Action, Principal, Role, authorize, parse_role
from stacksafe.core.audit import record
from stacksafe.core.guard import allow
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import find_stack, visible_target
from stacksafe.core.validation import unstorable
from stacksafe.errors import Conflict, Forbidden, InvalidInput, NotFound
from stacksafe.model import Account
from stacksafe.store import Connection
from stacksafe.store import principals as queries
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store.principals import StoredUser

__all__ = [
    "EMAIL",
    "UserView",
    "bootstrap_owner",
    "create_user",
    "has_users",
    "list_users",
    "principal_for_user",
    "user_named",
]

EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def _check_email(email: str) -> str:
    if not EMAIL.fullmatch(email) or len(email) > 320:
        raise InvalidInput(f"{email!r} is not an email address")
    return email


def bootstrap_owner(installation: Installation, email: str) -> StoredUser:
    """The server owner: may do everything everywhere. Created once, by ``init``."""
    _check_email(email)

    def work(conn: Connection) -> StoredUser:
        if queries.user_by_email(conn, email) is not None:
            raise Conflict(f"user {email!r} already exists")
        return queries.insert_user(conn, email, True, installation.clock())

    return installation.store.transact(work, f"creating owner {email!r}")


def has_users(installation: Installation) -> bool:
    with installation.store.read() as conn:
        return bool(queries.list_users(conn))


def create_user(
    installation: Installation,
    actor: Principal,
    email: str,
    account_ref: str,
    role: str,
    stack_roles: Mapping[str, str] | None = None,
) -> StoredUser:
    """Create a user (or add an existing one) with a role in an account and optional stack roles."""
    _check_email(email)
    account = visible_target(installation, actor, account_ref=account_ref).account
    allow(installation, actor, Action.MANAGE_USERS, account, None, user=email)
    account_role = parse_role(role)
    stacks = {
        find_stack(installation, ref, account.uid): parse_role(r)
        for ref, r in (stack_roles or {}).items()
    }

    def work(conn: Connection) -> StoredUser:
        user = queries.user_by_email(conn, email) or queries.insert_user(
            conn, email, False, installation.clock()
        )
        reinstated = user.removed_at is not None
        if reinstated:
            # Re-adding an offboarded email: the same row (the audit log names it), with only
            # the role given now; the tokens revoked at removal stay revoked, no password.
            queries.reinstate_user(conn, user.id, installation.clock())
        queries.set_account_role(conn, user.id, account.id, account_role.value)
        for stack, stack_role in stacks.items():
            queries.set_stack_role(conn, user.id, stack.id, stack_role.value)
        record(
            conn,
            installation,
            actor,
            "user.grant",
            account=account,
            detail={
                "user": email,
                "role": account_role.value,
                "stack_roles": {s.uid: r.value for s, r in stacks.items()},
                **({"reinstated": True} if reinstated else {}),
            },
        )
        return user

    return installation.store.transact(work, f"creating user {email!r}")


def principal_for_user(conn: Connection, user: StoredUser) -> Principal:
    roles = queries.roles_of(conn, user.id)
    return Principal(
        name=user.email,
        user_id=user.id,
        is_owner=user.is_owner,
        account_roles={a: Role(r) for a, r in roles.accounts.items()},
        stack_roles={s: Role(r) for s, r in roles.stacks.items()},
        stack_accounts=roles.stack_accounts,
    )


def user_named(conn: Connection, email: str) -> StoredUser:
    """The user ``email``; a removed one does not exist (core.principals.removal)."""
    # No email holds a NUL, and PostgreSQL text cannot: not looked up (a 404, not a 500).
    user = None if unstorable(email) else queries.user_by_email(conn, email)
    if user is None or user.removed_at is not None:
        raise NotFound(f"user {email!r} does not exist")
    return user


@dataclass(frozen=True, slots=True)
class UserView:
    """A user as another user may see them: roles in the accounts both can see."""

    id: int
    email: str
    is_owner: bool
    created_at: datetime
    account_roles: dict[str, tuple[str, str]]  # account uid -> (account name, role)
    stack_roles: dict[str, str]  # stack uid -> role


def list_users(installation: Installation, actor: Principal) -> list[UserView]:
    """Users the actor may manage: all for the owner, else those of accounts it administers."""
    with installation.store.read() as conn:
        accounts = {a.id: a for a in tenancy_queries.list_accounts(conn)}
        stacks = {s.id: s for s in tenancy_queries.list_stacks(conn)}
        managed = {
            account_id
            for account_id, account in accounts.items()
            if actor.is_owner or _may_manage(actor, account)
        }
        views = []
        for user in queries.list_users(conn):
            if user.removed_at is not None:
                continue  # offboarded: listed nowhere, named only by the audit log
            roles = queries.account_roles(conn, user.id)
            per_stack = queries.stack_roles_of(conn, user.id)
            related = set(roles) | {stacks[s].account_id for s in per_stack if s in stacks}
            if not (actor.is_owner or actor.user_id == user.id or related & managed):
                continue
            views.append(
                UserView(
                    id=user.id,
                    email=user.email,
                    is_owner=user.is_owner,
                    created_at=user.created_at,
                    account_roles={
                        accounts[a].uid: (accounts[a].name, r)
                        for a, r in roles.items()
                        if a in managed or actor.user_id == user.id
                    },
                    stack_roles={
                        stacks[s].uid: r
                        for s, r in per_stack.items()
                        if stacks[s].account_id in managed or actor.user_id == user.id
                    },
                )
            )
        return views


def _may_manage(actor: Principal, account: Account) -> bool:
    try:
        authorize(actor, Action.MANAGE_USERS, account, None)
    except (Forbidden, NotFound):
        return False
    return True
