"""Who an ID token is: the user of its verified email (created on the first sign-in), and the
account roles its groups give, applied at every sign-in.

An account that some ``--map-group`` names is *managed* by single sign-on for the people who
sign in with it: their role there is the highest role their groups give, and is taken away when
no group of theirs gives one (removed from the group, the role goes at the next sign-in). An
account no mapping names is left alone, as are stack roles and the server owner's flag: roles
granted there by hand (``users create``) stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stacksafe.core.access import Role
from stacksafe.core.workload.claims import claim_value, text_claim
from stacksafe.crypto.jwt import JwtRefused
from stacksafe.store import Connection
from stacksafe.store import oidc as queries
from stacksafe.store import principals as user_queries
from stacksafe.store.oidc import GroupRole, StoredProvider
from stacksafe.store.principals import StoredUser

__all__ = ["RoleChanges", "apply_group_roles", "groups_of", "user_for", "verified_email"]

_RANK = {role: rank for rank, role in enumerate(Role)}
MAX_GROUPS = 1000  # a token listing more is refused rather than compared item by item


@dataclass
class RoleChanges:
    """What a sign-in changed: for the audit event."""

    created: bool = False
    granted: dict[str, str] = field(default_factory=dict)  # account name -> role
    removed: list[str] = field(default_factory=list)  # account names

    def detail(self) -> dict[str, Any]:
        return {"created": self.created, "granted": self.granted, "removed": self.removed}


def verified_email(claims: Mapping[str, Any], provider: StoredProvider) -> str:
    """The token's email, if the provider verified it and its domain is allowed."""
    email = text_claim(claims, "email", 321)
    if email is None or "@" not in email or len(email) > 320:
        raise JwtRefused("email", "the ID token has no email (ask for the email scope)")
    # Some providers (Cognito) send the boolean as a string.
    if claims.get("email_verified") not in (True, "true"):
        raise JwtRefused("email not verified", "the provider has not verified the email")
    domain = email.rpartition("@")[2].lower()
    if provider.allowed_domains is not None and domain not in provider.allowed_domains:
        raise JwtRefused("domain", "the email's domain is not allowed")
    return email


def groups_of(claims: Mapping[str, Any], provider: StoredProvider) -> frozenset[str]:
    if provider.groups_claim is None:
        return frozenset()
    value = claim_value(claims, provider.groups_claim)
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_GROUPS:
        raise JwtRefused("groups", f"over {MAX_GROUPS} groups")
    return frozenset(item for item in items if isinstance(item, str))


def user_for(conn: Connection, email: str, now: Any, changes: RoleChanges) -> StoredUser:
    """The user of ``email`` (case aside), created when there is none."""
    found = user_queries.user_by_email(conn, email)
    if found is None:
        folded = email.casefold()
        found = next(
            (u for u in user_queries.list_users(conn) if u.email.casefold() == folded), None
        )
    if found is not None:
        if found.removed_at is not None:
            # Offboarded: the provider still knows them; stacksafe does not let them back in
            # (an owner re-adds them with `users create`).
            raise JwtRefused("removed", "the user was removed from stacksafe")
        return found
    changes.created = True
    return user_queries.insert_user(conn, email, False, now)


def apply_group_roles(
    conn: Connection, user: StoredUser, groups: frozenset[str], changes: RoleChanges
) -> None:
    """Set the user's role in every managed account to what their groups give (or none)."""
    mapped: list[GroupRole] = queries.group_roles(conn)
    wanted: dict[int, tuple[str, Role | None]] = {}
    for mapping in mapped:
        best: Role | None
        name, best = wanted.get(mapping.account_id, (mapping.account_name, None))
        if mapping.group in groups:
            given = Role(mapping.role)
            if best is None or _RANK[given] > _RANK[best]:
                best = given
        wanted[mapping.account_id] = (name, best)
    held = user_queries.account_roles(conn, user.id)
    for account_id, (name, chosen) in sorted(wanted.items()):
        if chosen is None:
            if account_id in held and queries.delete_account_role(conn, user.id, account_id):
                changes.removed.append(name)
        elif held.get(account_id) != chosen.value:
            user_queries.set_account_role(conn, user.id, account_id, chosen.value)
            changes.granted[name] = chosen.value
