"""The OpenID provider people sign in with: ``stacksafe auth oidc configure`` (server owner only).

The provider's endpoints and keys come from its discovery document, fetched when configuring (a
typo fails then, not at the first sign-in). The client secret is sealed with the server's
``settings-seal`` key (crypto.sealed_setting) and is never shown, logged or audited.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from stacksafe.core.access import Principal, Role, parse_role
from stacksafe.core.audit import record
from stacksafe.core.installation import Installation
from stacksafe.core.server_keys import SETTINGS_SEAL, keyed_hash
from stacksafe.core.tenancy import find_account
from stacksafe.core.workload.issuers import owner_only
from stacksafe.core.workload.keys import (
    KeysUnavailable,
    checked_url,
    discovery_document,
    fetch_keys,
)
from stacksafe.crypto.sealed_setting import open_setting, seal_setting
from stacksafe.errors import InvalidInput, NotFound
from stacksafe.model import SecretValue
from stacksafe.store import Connection
from stacksafe.store import oidc as queries
from stacksafe.store.oidc import GroupRole, StoredProvider

__all__ = [
    "BASE_SCOPES",
    "PROVIDER_KEYS",
    "GroupMapping",
    "GroupRole",
    "ProviderSettings",
    "StoredProvider",
    "client_secret",
    "configure_provider",
    "password_sign_in_allowed",
    "provider_of",
    "remove_provider",
    "show_provider",
    "sso_enabled",
]

BASE_SCOPES = ("openid", "email", "profile")
SECRET_SETTING = "oidc.client_secret"  # noqa: S105 - the sealed setting's name, not a secret
_WHAT = "single sign-on"
PROVIDER_KEYS = "oidc-provider"  # the provider's key set in Installation.issuer_keys
_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)+")
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")  # RFC 6749 3.3 scope-token
_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True, slots=True)
class GroupMapping:
    """``--map-group GROUP=ACCOUNT:ROLE``: members of GROUP get ROLE in ACCOUNT."""

    group: str
    account: str
    role: str

    @classmethod
    def parse(cls, text: str) -> GroupMapping:
        group, sep, rest = text.rpartition("=")
        account, sep2, role = rest.rpartition(":")
        if not sep or not sep2 or not group or not account or not role:
            raise InvalidInput(f"--map-group {text[:200]!r} must be GROUP=ACCOUNT:ROLE")
        return cls(group, account, role)


@dataclass(frozen=True)
class ProviderSettings:
    issuer: str
    client_id: str
    client_secret: SecretValue
    groups_claim: str | None = None
    mappings: Sequence[GroupMapping] = ()
    allowed_domains: Sequence[str] = ()
    password_sign_in: bool = True
    scopes: Sequence[str] = ()  # asked for besides openid, email and profile


def _endpoint(document: dict[str, object], name: str, where: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{where} has no {name}")
    try:
        return checked_url(value)
    except KeysUnavailable as exc:
        raise InvalidInput(f"{where}: {name} {exc}") from None


def _auth_method(document: dict[str, object]) -> str:
    # OpenID Connect Discovery 1.0, 3: client_secret_basic when the document names none.
    offered = document.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
    if isinstance(offered, list):
        for method in _AUTH_METHODS:
            if method in offered:
                return method
    raise InvalidInput(
        "the provider's token endpoint accepts neither client_secret_basic nor client_secret_post"
    )


def _check_flow_support(document: dict[str, object]) -> None:
    responses = document.get("response_types_supported")
    if isinstance(responses, list) and "code" not in responses:
        raise InvalidInput("the provider does not offer the authorization code flow")
    challenges = document.get("code_challenge_methods_supported")
    if isinstance(challenges, list) and "S256" not in challenges:
        raise InvalidInput("the provider does not offer PKCE with S256")


def _domains(domains: Sequence[str]) -> tuple[str, ...] | None:
    kept = []
    for domain in domains:
        folded = domain.strip().lower().removeprefix("@")
        if not _DOMAIN.fullmatch(folded):
            raise InvalidInput(f"--allowed-domain {domain[:100]!r} is not a domain name")
        kept.append(folded)
    return tuple(dict.fromkeys(kept)) or None


def _scopes(extra: Sequence[str]) -> tuple[str, ...]:
    for scope in extra:
        if not _SCOPE.fullmatch(scope):
            raise InvalidInput(f"--scope {scope[:100]!r} is not a scope name")
    return tuple(dict.fromkeys((*BASE_SCOPES, *extra)))


def _mappings(
    installation: Installation, mappings: Sequence[GroupMapping]
) -> list[tuple[str, int, str]]:
    resolved: dict[tuple[str, int], str] = {}
    for mapping in mappings:
        if len(mapping.group) > 256:
            raise InvalidInput(f"group {mapping.group[:80]!r}... is over 256 characters")
        role = parse_role(mapping.role)
        if role is Role.OWNER:
            raise InvalidInput("a group may be given any account role but owner")
        account = find_account(installation, mapping.account)
        key = (mapping.group, account.id)
        if key in resolved and resolved[key] != role.value:
            raise InvalidInput(f"group {mapping.group!r} is mapped twice in {account.name!r}")
        resolved[key] = role.value
    return [(group, account_id, role) for (group, account_id), role in resolved.items()]


def configure_provider(
    installation: Installation, actor: Principal, settings: ProviderSettings
) -> StoredProvider:
    """Configure (or replace) the provider people sign in with."""
    owner_only(installation, actor, "oidc.configure", settings.issuer[:200], _WHAT)
    issuer = settings.issuer
    if not issuer.startswith(("https://", "http://")) or len(issuer) > 2048:
        raise InvalidInput(f"issuer {issuer[:200]!r} must be the provider's URL (its iss)")
    if not settings.client_id or len(settings.client_id) > 512:
        raise InvalidInput("--client-id must be 1-512 characters")
    secret = settings.client_secret.reveal()
    if not secret or len(secret) > 4096:
        raise InvalidInput("the client secret file must hold the secret (1-4096 characters)")
    if settings.groups_claim is not None and not 0 < len(settings.groups_claim) <= 128:
        raise InvalidInput("--groups-claim must be 1-128 characters")
    if settings.mappings and settings.groups_claim is None:
        raise InvalidInput("--map-group needs --groups-claim (the claim that lists the groups)")
    domains = _domains(settings.allowed_domains)
    scopes = _scopes(settings.scopes)
    mappings = _mappings(installation, settings.mappings)
    where = f"{issuer}/.well-known/openid-configuration"
    try:
        document = discovery_document(issuer)
    except KeysUnavailable as exc:
        raise InvalidInput(f"the provider's discovery document: {exc}") from None
    _check_flow_support(document)
    authorization = _endpoint(document, "authorization_endpoint", where)
    token = _endpoint(document, "token_endpoint", where)
    jwks_uri = _endpoint(document, "jwks_uri", where)
    method = _auth_method(document)
    try:
        keys = fetch_keys("jwks_url", jwks_uri, issuer)
    except KeysUnavailable as exc:
        raise InvalidInput(f"the provider's keys: {exc}") from None
    sealed = seal_setting(keyed_hash(installation, SETTINGS_SEAL), SECRET_SETTING, secret.encode())

    def work(conn: Connection) -> StoredProvider:
        now = installation.clock()
        found = queries.provider(conn)
        stored = StoredProvider(
            issuer=issuer,
            client_id=settings.client_id,
            client_secret_sealed=sealed,
            authorization_endpoint=authorization,
            token_endpoint=token,
            token_auth_method=method,
            jwks_uri=jwks_uri,
            jwks=keys.text,
            scopes=scopes,
            groups_claim=settings.groups_claim,
            allowed_domains=domains,
            password_sign_in=settings.password_sign_in,
            created_at=now if found is None else found.created_at,
            updated_at=now,
        )
        queries.put_provider(conn, stored, mappings)
        record(
            conn,
            installation,
            actor,
            "oidc.configure",
            detail={
                "issuer": issuer,
                "client_id": settings.client_id,
                "groups_claim": settings.groups_claim,
                "group_roles": sorted(f"{m.group}={m.account}:{m.role}" for m in settings.mappings),
                "allowed_domains": list(domains or ()),
                "password_sign_in": settings.password_sign_in,
                "kids": list(keys.key_ids),
            },
        )
        return stored

    # The keys as fetched now replace whatever this process kept of the provider before.
    stored = installation.store.transact(work, "configuring single sign-on")
    installation.issuer_keys.keep(PROVIDER_KEYS, stored.updated_at, keys)
    return stored


def show_provider(
    installation: Installation, actor: Principal
) -> tuple[StoredProvider, list[GroupRole]]:
    owner_only(installation, actor, "oidc.show", "", _WHAT)
    with installation.store.read() as conn:
        found = queries.provider(conn)
        if found is None:
            raise NotFound("single sign-on is not configured (stacksafe auth oidc configure)")
        return found, queries.group_roles(conn)


def remove_provider(installation: Installation, actor: Principal) -> None:
    """Stop single sign-on (open sessions stay until they end; users and roles stay)."""
    owner_only(installation, actor, "oidc.remove", "", _WHAT)

    def work(conn: Connection) -> None:
        if not queries.delete_provider(conn):
            raise NotFound("single sign-on is not configured")
        record(conn, installation, actor, "oidc.remove", detail={})

    installation.store.transact(work, "removing single sign-on")


def provider_of(installation: Installation) -> StoredProvider | None:
    with installation.store.read() as conn:
        return queries.provider(conn)


def sso_enabled(installation: Installation) -> bool:
    return provider_of(installation) is not None


def password_sign_in_allowed(installation: Installation) -> bool:
    """False only when single sign-on is configured with ``--no-password-sign-in``."""
    found = provider_of(installation)
    return found is None or found.password_sign_in


def client_secret(installation: Installation, stored: StoredProvider) -> SecretValue:
    opened = open_setting(
        keyed_hash(installation, SETTINGS_SEAL), SECRET_SETTING, stored.client_secret_sealed
    )
    return SecretValue(opened.decode("utf-8"))
