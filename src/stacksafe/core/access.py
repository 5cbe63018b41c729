"""Who may do what: roles, token scopes and token narrowing, decided in one place.

A request is allowed when all three agree: the user's role for the target (a stack role wins over
the account role for that stack), the token's scopes (``public`` describes, ``admin`` does the
rest), and the token's narrowing to stacks and environments. A user with no role at all in an
account is told the account or stack does not exist (404): existence does not leak across
accounts. A user who can see the target but may not do this gets ``Forbidden`` (403).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from stacksafe.errors import Forbidden, InvalidInput, NotFound
from stacksafe.model import Account, Stack

__all__ = [
    "ROLE_PERMISSIONS",
    "SCOPES",
    "Action",
    "Principal",
    "Role",
    "authorize",
    "can_see_account",
    "can_see_stack",
    "parse_role",
    "token_reaches",
]


class Action(StrEnum):
    DESCRIBE = "describe"  # see that secrets exist: key, timestamps, encrypted value
    REVEAL = "reveal"  # see raw values
    WRITE_STACK_SECRETS = "write_stack_secrets"
    WRITE_ACCOUNT_SECRETS = "write_account_secrets"
    MANAGE_STACKS = "manage_stacks"
    MANAGE_USERS = "manage_users"
    READ_AUDIT = "read_audit"


class Role(StrEnum):
    """Cloud66's role names, from least to most privileged."""

    VIEWER = "viewer"
    DEPLOYER = "deployer"
    DEVELOPER = "developer"
    OPERATION = "operation"
    POWER_USER = "power_user"
    ADMINISTRATOR = "administrator"
    OWNER = "owner"


_D, _R = Action.DESCRIBE, Action.REVEAL
_WS, _WA = Action.WRITE_STACK_SECRETS, Action.WRITE_ACCOUNT_SECRETS
ROLE_PERMISSIONS: Mapping[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset({_D}),
    Role.DEPLOYER: frozenset({_D, _R}),
    Role.DEVELOPER: frozenset({_D, _R, _WS}),
    Role.OPERATION: frozenset({_D, _R, _WS, Action.MANAGE_STACKS}),
    Role.POWER_USER: frozenset({_D, _R, _WS, _WA, Action.MANAGE_STACKS}),
    Role.ADMINISTRATOR: frozenset(Action),
    Role.OWNER: frozenset(Action),
}

SCOPES = ("public", "admin")
# Cloud66: `public` is read-only; managing environment values needs `admin`.
_SCOPE_FOR = {action: ("public" if action is Action.DESCRIBE else "admin") for action in Action}


def parse_role(text: str) -> Role:
    normalised = text.strip().lower().replace(" ", "_").replace("-", "_")
    try:
        return Role(normalised)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise InvalidInput(f"role {text!r} is not one of {names}") from None


@dataclass(frozen=True)
class Principal:
    """Who is asking, with what token, from where: everything ``authorize`` and the audit need."""

    name: str
    user_id: int | None = None
    is_owner: bool = False
    account_roles: Mapping[int, Role] = field(default_factory=dict)
    stack_roles: Mapping[int, Role] = field(default_factory=dict)
    stack_accounts: Mapping[int, int] = field(default_factory=dict)  # stack id -> account id
    token_uid: str | None = None
    scopes: frozenset[str] | None = None  # None: not a token (the local operator)
    token_stacks: frozenset[str] | None = None
    token_environments: frozenset[str] | None = None
    token_expires_at: datetime | None = None
    source_ip: str | None = None
    request_id: str | None = None

    @classmethod
    def local(cls, name: str) -> Principal:
        """Whoever holds the master key on this machine: can already read everything."""
        return cls(name=name, is_owner=True)

    def for_request(self, source_ip: str | None, request_id: str | None) -> Principal:
        """This principal, for one request: ``replace(self, source_ip=..., request_id=...)``
        at a tenth of the cost (it is made for every request; ``replace`` re-runs the
        constructor over every field). A copy of its fields: the kept one is unchanged."""
        fields = dict(self.__dict__)
        fields["source_ip"], fields["request_id"] = source_ip, request_id
        made = object.__new__(Principal)
        object.__setattr__(made, "__dict__", fields)
        return made


def can_see_account(principal: Principal, account: Account) -> bool:
    if principal.is_owner or account.id in principal.account_roles:
        return True
    return account.id in principal.stack_accounts.values()


def can_see_stack(principal: Principal, stack: Stack) -> bool:
    return (
        principal.is_owner
        or stack.account_id in principal.account_roles
        or stack.id in principal.stack_roles
    )


def token_reaches(principal: Principal, stack: Stack) -> bool:
    """Whether ``principal``'s token, if it is one, is valid for ``stack`` (its narrowing to
    stacks and environments): a list of stacks shows only those the caller could describe."""
    return _token_allows(principal, Action.DESCRIBE, stack) is None


def _role_for(principal: Principal, account: Account, stack: Stack | None) -> Role | None:
    if stack is not None and stack.id in principal.stack_roles:
        return principal.stack_roles[stack.id]
    return principal.account_roles.get(account.id)


def _token_allows(principal: Principal, action: Action, stack: Stack | None) -> str | None:
    """Why the token forbids this, or None when it allows it."""
    if principal.scopes is None:
        return None
    needed = _SCOPE_FOR[action]
    if needed not in principal.scopes and not (needed == "public" and "admin" in principal.scopes):
        return f"the token lacks the {needed!r} scope"
    narrowed = principal.token_stacks is not None or principal.token_environments is not None
    if narrowed and stack is None:
        return "the token is narrowed to stacks and cannot act at account level"
    if stack is not None:
        # Not the stack's name: the token may not describe that stack (no list shows it to the
        # token), so its refusal must not name it either.
        if principal.token_stacks is not None and stack.uid not in principal.token_stacks:
            return "this token is not valid for that stack"
        if (
            principal.token_environments is not None
            and stack.environment not in principal.token_environments
        ):
            return f"the token is not valid for the {stack.environment!r} environment"
    return None


def authorize(principal: Principal, action: Action, account: Account, stack: Stack | None) -> None:
    """Raise ``NotFound`` or ``Forbidden`` unless ``principal`` may do ``action`` there."""
    if stack is not None and not can_see_stack(principal, stack):
        raise NotFound(f"stack {stack.uid!r} does not exist")
    if stack is None and not can_see_account(principal, account):
        raise NotFound(f"account {account.uid!r} does not exist")
    token_reason = _token_allows(principal, action, stack)
    if token_reason is not None:
        raise Forbidden(f"not allowed to {action.value.replace('_', ' ')}: {token_reason}")
    if principal.is_owner:
        return
    role = _role_for(principal, account, stack)
    if role is None or action not in ROLE_PERMISSIONS[role]:
        shown = "no role" if role is None else f"role {role.value!r}"
        raise Forbidden(f"not allowed to {action.value.replace('_', ' ')} with {shown}")
