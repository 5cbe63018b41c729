"""JWT issuers the server owner trusts: ``stacksafe auth jwt add-issuer`` (docs/identity.md).

An issuer is its ``iss`` URL and where its public keys come from: its OpenID discovery document
(``--discovery``), a JWKS URL, or a JWKS file (a Kubernetes cluster whose issuer is not
reachable from the server exports its keys with ``kubectl get --raw /openid/v1/jwks``). The keys
are fetched when the issuer is added, so a typo fails at once and not at the first login.
Trusting an issuer is trusting everyone it signs for: only the server owner may add one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from stacksafe.core.access import Principal
from stacksafe.core.audit import record, record_denied
from stacksafe.core.installation import Installation
from stacksafe.core.workload.keys import KeysUnavailable, fetch_keys
from stacksafe.crypto.jwt import JwkSet
from stacksafe.errors import Conflict, Forbidden, InvalidInput, NotFound
from stacksafe.store import Connection
from stacksafe.store import workload as queries
from stacksafe.store.workload import StoredIssuer

__all__ = [
    "NAME",
    "PRESETS",
    "IssuerSource",
    "StoredIssuer",
    "add_issuer",
    "check_name",
    "find_issuer",
    "list_issuers",
    "owner_only",
    "remove_issuer",
]

# Issuers everyone configures the same way: GitHub's, and the service-account issuer most
# clusters keep by default (kubeadm, kind, k3s: --service-account-issuer).
PRESETS = {
    "github-actions": "https://token.actions.githubusercontent.com",
    "kubernetes": "https://kubernetes.default.svc.cluster.local",
}
NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")  # of issuers and roles
_MAX_AUDIENCE = 256


@dataclass(frozen=True)
class IssuerSource:
    """Where the keys come from: ``discovery``, ``jwks_url`` (with ``url``) or ``file``
    (with the JWK set's text)."""

    kind: str
    url: str | None = None
    jwks_text: str | None = None


def check_name(name: str, what: str) -> str:
    if not NAME.fullmatch(name):
        raise InvalidInput(
            f"{what} name {name[:80]!r} must be 1-64 lower-case letters, digits, '.', '_' or '-'"
        )
    return name


def check_audiences(audiences: Sequence[str]) -> tuple[str, ...]:
    for audience in audiences:
        if not audience or len(audience) > _MAX_AUDIENCE or any(c.isspace() for c in audience):
            raise InvalidInput(f"audience {audience[:80]!r} must be 1-256 characters, no spaces")
    return tuple(dict.fromkeys(audiences))


def owner_only(
    installation: Installation,
    actor: Principal,
    action: str,
    name: str,
    what: str = "workload logins",
) -> None:
    if actor.is_owner and (actor.scopes is None or "admin" in actor.scopes):
        return
    refused = Forbidden(f"only the server owner may configure {what}")
    record_denied(installation, actor, action, refused.message, detail={"name": name})
    raise refused


def add_issuer(
    installation: Installation,
    actor: Principal,
    name: str,
    *,
    issuer: str,
    source: IssuerSource,
    audiences: Sequence[str] = (),
) -> StoredIssuer:
    """Trust ``issuer`` under ``name``; its keys are read or fetched now."""
    check_name(name, "issuer")
    owner_only(installation, actor, "jwt.issuer.add", name)
    issuer = PRESETS.get(issuer, issuer)
    if not issuer.startswith(("https://", "http://")) or len(issuer) > 2048:
        raise InvalidInput(f"issuer {issuer[:200]!r} must be the issuer's URL (its tokens' iss)")
    accepted = check_audiences(audiences)
    keys = _keys_of(source, issuer)

    def work(conn: Connection) -> StoredIssuer:
        if queries.issuer_by_name(conn, name) is not None:
            raise Conflict(f"issuer {name!r} already exists (remove it first)")
        stored = queries.insert_issuer(
            conn,
            name=name,
            issuer=issuer,
            keys_from=source.kind,
            keys_url=source.url if source.kind != "discovery" else issuer,
            jwks=keys.text,
            audiences=accepted or None,
            now=installation.clock(),
        )
        record(
            conn,
            installation,
            actor,
            "jwt.issuer.add",
            detail={"name": name, "issuer": issuer, "keys_from": source.kind, "kids": keys.key_ids},
        )
        return stored

    return installation.store.transact(work, f"adding issuer {name}")


def _keys_of(source: IssuerSource, issuer: str) -> JwkSet:
    try:
        if source.kind == "file":
            return JwkSet(source.jwks_text or "", "the JWKS file")
        if source.kind == "jwks_url":
            if not source.url:
                raise InvalidInput("--jwks-url needs the URL of the issuer's JWK set")
            return fetch_keys("jwks_url", source.url, issuer)
        if source.kind == "discovery":
            return fetch_keys("discovery", "", issuer)
    except (KeysUnavailable, ValueError) as exc:
        raise InvalidInput(f"the issuer's keys: {exc}") from None
    raise InvalidInput("give one of --discovery, --jwks-url URL or --jwks-file FILE")


def find_issuer(installation: Installation, actor: Principal, name: str) -> StoredIssuer:
    owner_only(installation, actor, "jwt.issuer.show", name)
    with installation.store.read() as conn:
        found = queries.issuer_by_name(conn, name)
    if found is None:
        raise NotFound(f"issuer {name!r} does not exist")
    return found


def list_issuers(installation: Installation, actor: Principal) -> list[StoredIssuer]:
    owner_only(installation, actor, "jwt.issuer.list", "")
    with installation.store.read() as conn:
        return queries.list_issuers(conn)


def remove_issuer(installation: Installation, actor: Principal, name: str) -> None:
    """Stop trusting an issuer; refused while roles use it (remove those first: each one's
    tokens are revoked then)."""
    owner_only(installation, actor, "jwt.issuer.remove", name)

    def work(conn: Connection) -> None:
        found = queries.issuer_by_name(conn, name)
        if found is None:
            raise NotFound(f"issuer {name!r} does not exist")
        used_by = sorted(r.name for r in queries.roles_of_issuer(conn, found.id))
        if used_by:
            raise Conflict(
                f"issuer {name!r} is used by roles {', '.join(used_by)}: remove them first"
            )
        queries.delete_issuer(conn, found.id)
        record(conn, installation, actor, "jwt.issuer.remove", detail={"name": name})

    installation.store.transact(work, f"removing issuer {name}")
