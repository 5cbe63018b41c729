"""People's single sign-on (docs/identity.md): the provider's row, its groups' account roles, the
sign-ins under way (by the keyed hash of their flow cookie), and a user's role in one account
taken back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from stacksafe.store.identity_tables import oidc_flows, oidc_group_roles, oidc_provider
from stacksafe.store.schema import accounts, memberships

__all__ = [
    "GroupRole",
    "StoredProvider",
    "delete_account_role",
    "delete_provider",
    "group_roles",
    "insert_flow",
    "provider",
    "put_provider",
    "set_provider_keys",
    "take_flow",
]


@dataclass(frozen=True, slots=True)
class GroupRole:
    group: str
    account_id: int
    account_name: str
    role: str


@dataclass(frozen=True)
class StoredProvider:
    issuer: str
    client_id: str
    client_secret_sealed: bytes = field(repr=False)
    authorization_endpoint: str
    token_endpoint: str
    token_auth_method: str
    jwks_uri: str
    jwks: str
    scopes: tuple[str, ...]
    groups_claim: str | None
    allowed_domains: tuple[str, ...] | None
    password_sign_in: bool
    created_at: datetime
    updated_at: datetime


def _provider(row: Row[Any]) -> StoredProvider:
    return StoredProvider(
        issuer=row.issuer,
        client_id=row.client_id,
        client_secret_sealed=bytes(row.client_secret_sealed),
        authorization_endpoint=row.authorization_endpoint,
        token_endpoint=row.token_endpoint,
        token_auth_method=row.token_auth_method,
        jwks_uri=row.jwks_uri,
        jwks=row.jwks,
        scopes=tuple(row.scopes.split()),
        groups_claim=row.groups_claim,
        allowed_domains=None if row.allowed_domains is None else tuple(row.allowed_domains.split()),
        password_sign_in=row.password_sign_in,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def provider(conn: Connection) -> StoredProvider | None:
    row = conn.execute(select(oidc_provider).where(oidc_provider.c.id == 1)).first()
    return None if row is None else _provider(row)


def put_provider(
    conn: Connection, stored: StoredProvider, mappings: list[tuple[str, int, str]]
) -> None:
    """Replace the provider's row and its group roles ``(group, account id, role)``."""
    conn.execute(delete(oidc_group_roles))
    conn.execute(delete(oidc_provider))
    conn.execute(
        insert(oidc_provider).values(
            id=1,
            issuer=stored.issuer,
            client_id=stored.client_id,
            client_secret_sealed=stored.client_secret_sealed,
            authorization_endpoint=stored.authorization_endpoint,
            token_endpoint=stored.token_endpoint,
            token_auth_method=stored.token_auth_method,
            jwks_uri=stored.jwks_uri,
            jwks=stored.jwks,
            scopes=" ".join(stored.scopes),
            groups_claim=stored.groups_claim,
            allowed_domains=None
            if stored.allowed_domains is None
            else " ".join(stored.allowed_domains),
            password_sign_in=stored.password_sign_in,
            created_at=stored.created_at,
            updated_at=stored.updated_at,
        )
    )
    for group, account_id, role in mappings:
        conn.execute(
            insert(oidc_group_roles).values(group_name=group, account_id=account_id, role=role)
        )


def delete_provider(conn: Connection) -> bool:
    conn.execute(delete(oidc_group_roles))
    conn.execute(delete(oidc_flows))
    return conn.execute(delete(oidc_provider)).rowcount == 1


def set_provider_keys(conn: Connection, jwks: str, now: datetime) -> None:
    conn.execute(update(oidc_provider).values(jwks=jwks, updated_at=now))


def group_roles(conn: Connection) -> list[GroupRole]:
    rows = conn.execute(
        select(
            oidc_group_roles.c.group_name,
            oidc_group_roles.c.account_id,
            accounts.c.name,
            oidc_group_roles.c.role,
        )
        .join(accounts, accounts.c.id == oidc_group_roles.c.account_id)
        .order_by(oidc_group_roles.c.group_name, accounts.c.name)
    )
    return [GroupRole(r.group_name, r.account_id, r.name, r.role) for r in rows]


def insert_flow(
    conn: Connection, flow_hash: bytes, expires_at: datetime, now: datetime, most: int
) -> bool:
    """A sign-in sent to the provider, unless ``most`` are under way already (False); the
    expired ones are deleted first."""
    conn.execute(delete(oidc_flows).where(oidc_flows.c.expires_at <= now))
    if conn.execute(select(func.count()).select_from(oidc_flows)).scalar_one() >= most:
        return False
    conn.execute(insert(oidc_flows).values(flow_hash=flow_hash, expires_at=expires_at))
    return True


def take_flow(conn: Connection, flow_hash: bytes) -> datetime | None:
    """The flow's expiry, and the flow deleted (a flow is used once); None if there is none."""
    row = conn.execute(
        delete(oidc_flows)
        .where(oidc_flows.c.flow_hash == flow_hash)
        .returning(oidc_flows.c.expires_at)
    ).first()
    return None if row is None else row.expires_at


def delete_account_role(conn: Connection, user_id: int, account_id: int) -> bool:
    """Take a user's role in one account (their stack roles stay); whether there was one."""
    result = conn.execute(
        delete(memberships).where(
            memberships.c.user_id == user_id, memberships.c.account_id == account_id
        )
    )
    return result.rowcount == 1
