"""API tokens: creation (the token is shown once), listing and revocation.

The database keeps ``HMAC-SHA256(token-hash key, token)`` only, looked up through a unique index
(core.principals.authentication).
"""

from __future__ import annotations

import re
import secrets as random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from stacksafe.core.access import SCOPES, Principal
from stacksafe.core.audit import record, record_denied
from stacksafe.core.installation import Installation
from stacksafe.core.principals.users import principal_for_user, user_named
from stacksafe.core.server_keys import TOKEN_HASH, keyed_hash
from stacksafe.core.tenancy import list_stacks
from stacksafe.core.validation import validate_environment
from stacksafe.errors import Conflict, Forbidden, InvalidInput, NotFound
from stacksafe.store import Connection
from stacksafe.store import principals as queries
from stacksafe.store.principals import StoredToken

__all__ = [
    "TOKEN_PREFIX",
    "CreatedToken",
    "StoredToken",
    "create_token",
    "list_tokens",
    "mint_token",
    "revoke_own_token",
    "revoke_token",
]

TOKEN_PREFIX = "ssk_"  # noqa: S105 - a marker, not a credential
TOKEN_ID = re.compile(r"tok_[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class CreatedToken:
    uid: str
    token: str  # shown once


def create_token(
    installation: Installation,
    actor: Principal,
    email: str,
    *,
    scopes: Sequence[str],
    stacks: Sequence[str] = (),
    environments: Sequence[str] = (),
    expires_in: timedelta | None = None,
) -> CreatedToken:
    """A new token for ``email``; only the owner or the user may create one for that user."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidInput(
            f"scopes must be chosen from {', '.join(SCOPES)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    try:
        # Before any lookup: whether another user exists is none of a non-owner's business.
        if not (actor.is_owner or actor.name == email):
            raise Forbidden("only the server owner may create tokens for other users")
        _within_actor_token(actor, scopes, environments)
        for environment in environments:
            validate_environment(environment)
        if actor.token_expires_at is not None and (
            expires_in is None or installation.clock() + expires_in > actor.token_expires_at
        ):
            raise Forbidden(
                "a token that expires can only create tokens that expire no later "
                f"(give an expiry of at most {actor.token_expires_at.isoformat()})"
            )
        with installation.store.read() as conn:
            holder = principal_for_user(conn, user_named(conn, email))
        # Narrowing names stacks the token's user can see; anything else is "does not exist".
        stack_uids = tuple(_stack_uid(installation, holder, ref) for ref in stacks) or None
        if actor.token_stacks is not None and not (
            stack_uids and set(stack_uids) <= actor.token_stacks
        ):
            raise Forbidden(
                "a token narrowed to stacks can only create tokens narrowed within them"
            )
    except Forbidden as refused:
        record_denied(installation, actor, "token.create", refused.message, detail={"user": email})
        raise

    def work(conn: Connection) -> CreatedToken:
        user = user_named(conn, email)
        now = installation.clock()
        created = mint_token(
            conn,
            installation,
            user_id=user.id,
            scopes=tuple(sorted(set(scopes))),
            stack_uids=stack_uids,
            environments=tuple(environments) or None,
            expires_at=None if expires_in is None else now + expires_in,
        )
        record(
            conn, installation, actor, "token.create", detail={"token": created.uid, "user": email}
        )
        return created

    return installation.store.transact(work, "creating a token")


def mint_token(
    conn: Connection,
    installation: Installation,
    *,
    user_id: int,
    scopes: tuple[str, ...],
    stack_uids: tuple[str, ...] | None,
    environments: tuple[str, ...] | None,
    expires_at: datetime | None,
    actor: str | None = None,
) -> CreatedToken:
    """A new token of ``user_id`` in ``conn``'s transaction; the database keeps its keyed hash.
    ``actor``: the name its audit events carry instead of the user's (a workload login's)."""
    token = TOKEN_PREFIX + random.token_urlsafe(32)
    uid = "tok_" + random.token_hex(8)  # matches TOKEN_ID
    queries.insert_token(
        conn,
        uid=uid,
        user_id=user_id,
        token_hash=keyed_hash(installation, TOKEN_HASH).digest(token.encode()),
        scopes=scopes,
        stack_uids=stack_uids,
        environments=environments,
        now=installation.clock(),
        expires_at=expires_at,
        actor=actor,
    )
    return CreatedToken(uid, token)


def _within_actor_token(
    actor: Principal, scopes: Sequence[str], environments: Sequence[str]
) -> None:
    """A token may only mint tokens that can do no more than itself."""
    if actor.scopes is None:
        return
    if "admin" not in actor.scopes:
        raise Forbidden("creating tokens needs a token with the 'admin' scope")
    if not set(scopes) <= actor.scopes:
        raise Forbidden("a token cannot create a token with scopes it does not have")
    if actor.token_environments is not None and not (
        environments and set(environments) <= actor.token_environments
    ):
        raise Forbidden(
            "a token narrowed to environments can only create tokens narrowed within them"
        )


def _stack_uid(installation: Installation, holder: Principal, ref: str) -> str:
    """The uid of the stack ``ref`` (uid or unique name) among those ``holder`` can see."""
    visible = [s for s in list_stacks(installation, holder) if ref in (s.uid, s.name)]
    if not visible:
        raise NotFound(f"stack {ref!r} does not exist")
    if len(visible) > 1:
        raise InvalidInput(f"stack name {ref!r} is ambiguous; use the stack uid")
    return visible[0].uid


def list_tokens(
    installation: Installation, actor: Principal, email: str | None = None
) -> list[tuple[StoredToken, str]]:
    """(token, user email) pairs the actor may see: all for the owner, else their own."""
    with installation.store.read() as conn:
        emails = {u.id: u.email for u in queries.list_users(conn)}
        if actor.is_owner:
            user_id = None if email is None else user_named(conn, email).id
        else:
            user_id = actor.user_id
        return [(t, emails[t.user_id]) for t in queries.list_tokens(conn, user_id)]


def revoke_token(installation: Installation, actor: Principal, uid: str) -> None:
    """Revoke a token: the owner any, a user their own (with an 'admin'-scoped token)."""
    if not TOKEN_ID.fullmatch(uid):
        # Not echoed: a token's value given by mistake must not reach a message or the log.
        raise InvalidInput("token ids look like tok_ and 16 hex digits (see tokens list)")
    if actor.scopes is not None and "admin" not in actor.scopes:
        refused = Forbidden("revoking tokens needs a token with the 'admin' scope")
        record_denied(installation, actor, "token.revoke", refused.message, detail={"token": uid})
        raise refused

    def work(conn: Connection) -> None:
        mine = {t.uid for t in queries.list_tokens(conn, None if actor.is_owner else actor.user_id)}
        if uid not in mine:
            raise NotFound(f"token {uid!r} does not exist")
        if not queries.revoke_token(conn, uid, installation.clock()):
            raise Conflict(f"token {uid!r} is already revoked")
        record(conn, installation, actor, "token.revoke", detail={"token": uid})

    installation.store.transact(work, f"revoking {uid}")


def revoke_own_token(installation: Installation, actor: Principal) -> None:
    """Revoke the token ``actor`` came with, whatever its scopes: giving up one's own access
    needs no more (a CI job's last step, Vault's ``revoke-self``)."""
    uid = actor.token_uid
    if uid is None:
        raise InvalidInput("only a token can be revoked (this request came without one)")

    def work(conn: Connection) -> None:
        if queries.revoke_token(conn, uid, installation.clock()):
            record(conn, installation, actor, "token.revoke", detail={"token": uid, "self": True})

    installation.store.transact(work, f"revoking {uid}")
