"""JWT roles: which tokens of an issuer may log in, and what the stacksafe token they get may do
(``stacksafe auth jwt add-role``, docs/identity.md).

A role binds an audience (required: a token that names no audience of the role is refused,
whatever its signature; Vault learnt this with CVE-2024-5798) and any claims (exact values or
globs), and gives an account role, narrowed to stacks and environments, with scopes and a
lifetime. It acts through a user of its own, ``jwt:<name>``, that holds that account role: the
tokens its logins issue are that user's, so revoking, narrowing, the principals revision and
the audit log work for them as for anyone's. Removing a role revokes every token it issued.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from stacksafe.core.access import SCOPES, Principal, Role, parse_role
from stacksafe.core.audit import record
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import find_account, find_stack
from stacksafe.core.validation import validate_environment
from stacksafe.core.workload.issuers import check_audiences, check_name, owner_only
from stacksafe.errors import Conflict, InvalidInput, NotFound
from stacksafe.store import Connection
from stacksafe.store import principals as principal_queries
from stacksafe.store import workload as queries
from stacksafe.store.workload import ClaimBinding, StoredRole

__all__ = [
    "DEFAULT_MAX_TTL",
    "DEFAULT_TTL",
    "ClaimBinding",
    "RoleGrant",
    "StoredRole",
    "add_role",
    "find_role",
    "list_roles",
    "remove_role",
    "role_user_email",
]

DEFAULT_TTL = timedelta(minutes=15)
DEFAULT_MAX_TTL = timedelta(hours=1)
_LONGEST = timedelta(days=1)  # a workload token that lives longer is a long-lived token again


def role_user_email(name: str) -> str:
    """The user a role acts through (not an email: no one can sign in as it or be mailed)."""
    return f"jwt:{name}"


@dataclass(frozen=True)
class RoleGrant:
    """What a login under a role gives."""

    account: str
    role: str
    stacks: Sequence[str] = ()
    environments: Sequence[str] = ()
    scopes: Sequence[str] = ("public", "admin")
    ttl: timedelta = DEFAULT_TTL
    max_ttl: timedelta = DEFAULT_MAX_TTL


def _checked_claims(claims: Sequence[ClaimBinding]) -> tuple[ClaimBinding, ...]:
    for binding in claims:
        if not binding.claim or len(binding.claim) > 256:
            raise InvalidInput(f"claim name {binding.claim[:80]!r} must be 1-256 characters")
        if not binding.values or any(len(v) > 1024 for v in binding.values):
            raise InvalidInput(f"claim {binding.claim!r} needs a value of at most 1024 characters")
    return tuple(claims)


def add_role(
    installation: Installation,
    actor: Principal,
    name: str,
    *,
    issuer: str,
    audiences: Sequence[str],
    claims: Sequence[ClaimBinding],
    grant: RoleGrant,
    refuse_replay: bool = False,
) -> StoredRole:
    """A new role; ``jwt:<name>`` gets ``grant.role`` in ``grant.account``."""
    check_name(name, "role")
    owner_only(installation, actor, "jwt.role.add", name)
    bound = check_audiences(audiences)
    if not bound:
        raise InvalidInput(
            "a role needs --audience: a token is accepted only for an audience its role binds"
        )
    role = parse_role(grant.role)
    if role is Role.OWNER:
        raise InvalidInput("a workload cannot own an account: give it administrator or less")
    unknown = sorted(set(grant.scopes) - set(SCOPES))
    if unknown or not grant.scopes:
        raise InvalidInput(f"scopes must be chosen from {', '.join(SCOPES)}")
    for environment in grant.environments:
        validate_environment(environment)
    if not timedelta(0) < grant.ttl <= grant.max_ttl <= _LONGEST:
        raise InvalidInput("the ttl must be positive and at most the max-ttl, itself at most 24h")
    bindings = _checked_claims(claims)
    account = find_account(installation, grant.account)
    stack_uids = tuple(
        dict.fromkeys(find_stack(installation, s, account.uid).uid for s in grant.stacks)
    )

    def work(conn: Connection) -> StoredRole:
        if queries.role_by_name(conn, name) is not None:
            raise Conflict(f"role {name!r} already exists (remove it first)")
        stored_issuer = queries.issuer_by_name(conn, issuer)
        if stored_issuer is None:
            raise NotFound(f"issuer {issuer!r} does not exist")
        if stored_issuer.audiences is not None:
            outside = sorted(set(bound) - set(stored_issuer.audiences))
            if outside:
                raise InvalidInput(
                    f"issuer {issuer!r} accepts the audiences {', '.join(stored_issuer.audiences)}"
                    f" only, not {', '.join(outside)}"
                )
        now = installation.clock()
        email = role_user_email(name)
        user = principal_queries.user_by_email(conn, email) or principal_queries.insert_user(
            conn, email, False, now
        )
        principal_queries.delete_roles_of(conn, user.id)  # a role removed and added again
        principal_queries.set_account_role(conn, user.id, account.id, role.value)
        found = queries.insert_role(
            conn,
            name=name,
            issuer_id=stored_issuer.id,
            user_id=user.id,
            account_id=account.id,
            role=role.value,
            audiences=bound,
            claims=bindings,
            stack_uids=stack_uids or None,
            environments=tuple(grant.environments) or None,
            scopes=tuple(sorted(set(grant.scopes))),
            ttl_seconds=int(grant.ttl.total_seconds()),
            max_ttl_seconds=int(grant.max_ttl.total_seconds()),
            refuse_replay=refuse_replay,
            now=now,
        )
        record(
            conn,
            installation,
            actor,
            "jwt.role.add",
            account=account,
            detail={
                "name": name,
                "issuer": issuer,
                "audiences": list(bound),
                "claims": {b.claim: list(b.values) for b in bindings},
                "role": role.value,
                "stacks": list(stack_uids),
                "environments": list(grant.environments),
                "scopes": sorted(set(grant.scopes)),
            },
        )
        return found

    return installation.store.transact(work, f"adding role {name}")


def find_role(installation: Installation, actor: Principal, name: str) -> StoredRole:
    owner_only(installation, actor, "jwt.role.show", name)
    with installation.store.read() as conn:
        found = queries.role_by_name(conn, name)
    if found is None:
        raise NotFound(f"role {name!r} does not exist")
    return found


def list_roles(installation: Installation, actor: Principal) -> list[StoredRole]:
    owner_only(installation, actor, "jwt.role.list", "")
    with installation.store.read() as conn:
        return queries.list_roles(conn)


def remove_role(installation: Installation, actor: Principal, name: str) -> list[str]:
    """Remove a role: every token it issued is revoked at once (on every server: the principals
    revision changes), its user keeps no role. The uids of the tokens revoked."""
    owner_only(installation, actor, "jwt.role.remove", name)

    def work(conn: Connection) -> list[str]:
        named = queries.role_by_name(conn, name)
        # Locked first: a login under way issues its token before this or finds the role gone.
        found = None if named is None else queries.role_for_update(conn, named.id)
        if found is None:
            raise NotFound(f"role {name!r} does not exist")
        revoked = principal_queries.revoke_tokens_of(conn, found.user_id, installation.clock())
        principal_queries.delete_roles_of(conn, found.user_id)
        queries.delete_role(conn, found.id)
        record(
            conn,
            installation,
            actor,
            "jwt.role.remove",
            detail={"name": name, "revoked": revoked},
        )
        return revoked

    return installation.store.transact(work, f"removing role {name}")
