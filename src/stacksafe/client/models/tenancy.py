"""The SDK's models of who and where: accounts, stacks, users and their roles, tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stacksafe.client.fields import Fields
from stacksafe.model import SecretValue

__all__ = ["Account", "CreatedToken", "Membership", "Stack", "StackRole", "Token", "User"]


@dataclass(frozen=True, slots=True)
class Account:
    """A tenant: its secrets are inherited by each of its stacks."""

    uid: str
    name: str
    stack_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_json(cls, data: object) -> Account:
        f = Fields(data, "Account")
        return cls(
            uid=f.text("uid"),
            name=f.text("name"),
            stack_count=f.integer("stack_count"),
            created_at=f.moment("created_at_iso"),
            updated_at=f.moment("updated_at_iso"),
        )


@dataclass(frozen=True, slots=True)
class Stack:
    """An application deployment in one account and one environment."""

    uid: str
    name: str
    account_uid: str
    account_name: str
    environment: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_json(cls, data: object) -> Stack:
        f = Fields(data, "Stack")
        return cls(
            uid=f.text("uid"),
            name=f.text("name"),
            account_uid=f.text("account_id"),
            account_name=f.text("account_name"),
            environment=f.text("environment"),
            created_at=f.moment("created_at_iso"),
            updated_at=f.moment("updated_at_iso"),
        )


@dataclass(frozen=True, slots=True)
class Membership:
    """A user's role in one account."""

    account_uid: str
    account_name: str
    role: str


@dataclass(frozen=True, slots=True)
class StackRole:
    """A user's role in one stack (it overrides the account role there)."""

    stack_uid: str
    role: str


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    is_owner: bool
    accounts: tuple[Membership, ...]
    stack_roles: tuple[StackRole, ...]
    created_at: datetime

    @classmethod
    def from_json(cls, data: object) -> User:
        f = Fields(data, "User")
        return cls(
            id=f.integer("id"),
            email=f.text("email"),
            is_owner=f.flag("is_owner"),
            accounts=tuple(
                Membership(a.text("id"), a.text("name"), a.text("role"))
                for a in f.objects("accounts")
            ),
            stack_roles=tuple(
                StackRole(s.text("stack_uid"), s.text("role"))
                for s in f.nested("access_profile").objects("stack_profiles")
            ),
            created_at=f.moment("created_at_iso"),
        )


@dataclass(frozen=True, slots=True)
class Token:
    """An API token, never its value: scopes, narrowing (None: not narrowed), lifetime."""

    id: str
    user: str
    scopes: tuple[str, ...]
    stacks: tuple[str, ...] | None
    environments: tuple[str, ...] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_json(cls, data: object) -> Token:
        return cls(**_token_fields(Fields(data, "Token")))


def _token_fields(f: Fields) -> dict[str, Any]:
    return {
        "id": f.text("id"),
        "user": f.text("user"),
        "scopes": f.texts("scopes"),
        "stacks": f.texts_or_none("stacks"),
        "environments": f.texts_or_none("environments"),
        "created_at": f.moment("created_at_iso"),
        "expires_at": f.moment_or_none("expires_at_iso"),
        "revoked_at": f.moment_or_none("revoked_at_iso"),
    }


@dataclass(frozen=True, slots=True)
class CreatedToken(Token):
    """A new token and, this once, its value (masked: ``token.reveal()`` gives the text)."""

    token: SecretValue

    @classmethod
    def from_json(cls, data: object) -> CreatedToken:
        f = Fields(data, "CreatedToken")
        return cls(**_token_fields(f), token=SecretValue(f.text("token")))
