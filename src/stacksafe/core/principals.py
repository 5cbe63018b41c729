"""Users, their roles, and API tokens: creation, authentication, listing, revocation.

A token is shown once, at creation. The database keeps ``HMAC-SHA256(token-hash key, token)``
only, looked up through a unique index; the final comparison is constant-time.
"""

from __future__ import annotations

import hmac
import re
import secrets as random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from stacksafe.core.access import (
    SCOPES,
    Action,
    Principal,
    Role,
    authorize,
    can_see_stack,
    parse_role,
)
from stacksafe.core.audit import record, record_denied
from stacksafe.core.guard import allow
from stacksafe.core.installation import Installation
from stacksafe.core.server_keys import TOKEN_HASH, keyed_hash
from stacksafe.core.tenancy import (
    Target,
    find_stack,
    list_stacks,
    stack_target_of,
    visible_target,
)
from stacksafe.core.validation import validate_environment
from stacksafe.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from stacksafe.model import Account, SecretValue
from stacksafe.store import principals as queries
from stacksafe.store import sessions as session_queries
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store.principals import StoredToken, StoredUser

__all__ = [
    "TOKEN_PREFIX",
    "CreatedToken",
    "StoredToken",
    "UserView",
    "authenticate",
    "authenticate_for_stack",
    "bootstrap_owner",
    "check_password",
    "create_token",
    "create_user",
    "has_users",
    "known_for_stack",
    "list_tokens",
    "list_users",
    "principal_for_user",
    "revoke_token",
    "set_password",
]

TOKEN_PREFIX = "ssk_"  # noqa: S105 - a marker, not a credential
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
TOKEN_ID = re.compile(r"tok_[0-9a-f]{16}")
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024  # Argon2 takes any length; this bounds the work one request can ask for


@dataclass(frozen=True, slots=True)
class CreatedToken:
    uid: str
    token: str  # shown once


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


def _user(conn: Connection, email: str) -> StoredUser:
    user = queries.user_by_email(conn, email)
    if user is None:
        raise NotFound(f"user {email!r} does not exist")
    return user


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
            holder = principal_for_user(conn, _user(conn, email))
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
    hasher = keyed_hash(installation, TOKEN_HASH)
    token = TOKEN_PREFIX + random.token_urlsafe(32)
    uid = "tok_" + random.token_hex(8)  # matches TOKEN_ID

    def work(conn: Connection) -> CreatedToken:
        user = _user(conn, email)
        now = installation.clock()
        queries.insert_token(
            conn,
            uid=uid,
            user_id=user.id,
            token_hash=hasher.digest(token.encode()),
            scopes=tuple(sorted(set(scopes))),
            stack_uids=stack_uids,
            environments=tuple(environments) or None,
            now=now,
            expires_at=None if expires_in is None else now + expires_in,
        )
        record(conn, installation, actor, "token.create", detail={"token": uid, "user": email})
        return CreatedToken(uid, token)

    return installation.store.transact(work, "creating a token")


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


def authenticate(
    installation: Installation,
    token: str,
    *,
    source_ip: str | None = None,
    request_id: str | None = None,
) -> Principal:
    """The principal a bearer token stands for; ``Unauthenticated`` when it is not valid."""
    digest = _token_digest(installation, token)
    with installation.store.read() as conn:
        principal = _principal_at(installation, conn, digest, queries.principals_revision_of(conn))
    return _for_request(installation, principal, source_ip, request_id)


def authenticate_for_stack(
    installation: Installation,
    token: str,
    stack_uid: str,
    *,
    source_ip: str | None = None,
    request_id: str | None = None,
) -> tuple[Principal, Callable[[], Target]]:
    """``authenticate``, and ``visible_target(stack_uid=..., for_reading=True)`` for the
    caller to call after its own checks (a rate limit): both from one read, mostly one query.

    For the hot read (api.fast_path), where a transaction and a query of their own for each of the
    two were a fifth of the server's CPU per request."""
    digest = _token_digest(installation, token)
    with installation.store.read() as conn:
        if "\x00" in stack_uid:
            revision, found = queries.principals_revision_of(conn), None
        else:
            revision, found = tenancy_queries.stack_request(conn, stack_uid)
        principal = _principal_at(installation, conn, digest, revision)
    actor = _for_request(installation, principal, source_ip, request_id)
    return actor, lambda: stack_target_of(installation, actor, stack_uid, found)


def known_for_stack(
    installation: Installation,
    token: str,
    stack_uid: str,
    *,
    source_ip: str | None = None,
    request_id: str | None = None,
) -> tuple[Principal, Target] | None:
    """What ``authenticate_for_stack`` and its target give, when all of it is at hand without
    waiting: the database read at once (store.quick), the token's principal kept under the
    revision read (core.known_tokens), the token unexpired and the stack visible to it.
    Otherwise None, having changed and recorded nothing: the caller takes the ordinary path,
    which reads, waits, refuses and records as it always does. For the event loop
    (core.reveal)."""
    if installation.store.quick is None or "\x00" in stack_uid:
        return None
    try:
        digest = _token_digest(installation, token)
    except Unauthenticated:
        return None
    read = tenancy_queries.quick_stack_request(installation.store.quick, stack_uid)
    if read is None or read[1] is None:
        return None
    revision, (stack, account, secrets_revision) = read[0], read[1]
    principal = installation.known_tokens.get(digest, revision)
    if (
        principal is None
        or not can_see_stack(principal, stack)
        or _expired(installation, principal)
    ):
        return None
    return principal.asking(source_ip, request_id), Target(account, stack, secrets_revision)


def _token_digest(installation: Installation, token: str) -> bytes:
    if not token.isascii() or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthenticated("the token is not valid")
    return keyed_hash(installation, TOKEN_HASH).digest(token.encode())


def _principal_at(
    installation: Installation, conn: Connection, digest: bytes, revision: str
) -> Principal:
    """The token's principal; ``revision`` was read first, in ``conn``'s transaction, so a
    principal kept under it is exactly what reading the rows would build (core.known_tokens)."""
    principal = installation.known_tokens.get(digest, revision)
    if principal is None:
        principal = _principal_of_token(conn, digest)
        installation.known_tokens.keep(digest, revision, principal)
    return principal


def _for_request(
    installation: Installation, principal: Principal, source_ip: str | None, request_id: str | None
) -> Principal:
    if _expired(installation, principal):
        raise Unauthenticated("the token has expired")
    return principal.asking(source_ip, request_id)


def _expired(installation: Installation, principal: Principal) -> bool:
    # A revoked token is never kept (the revocation changed the revision); expiry is a matter
    # of time, so it is checked on every use.
    return (
        principal.token_expires_at is not None
        and principal.token_expires_at <= installation.clock()
    )


def _principal_of_token(conn: Connection, digest: bytes) -> Principal:
    # The lookup is by a keyed hash, so its timing says nothing about the token; the final
    # comparison is constant-time all the same.
    found = queries.token_and_user_by_hash(conn, digest)
    if found is None or not hmac.compare_digest(found[0].token_hash, digest):
        raise Unauthenticated("the token is not valid")
    stored, user = found
    if stored.revoked_at is not None:
        raise Unauthenticated("the token was revoked")
    return replace(
        principal_for_user(conn, user),
        token_uid=stored.uid,
        scopes=frozenset(stored.scopes),
        token_stacks=None if stored.stack_uids is None else frozenset(stored.stack_uids),
        token_environments=None if stored.environments is None else frozenset(stored.environments),
        token_expires_at=stored.expires_at,
    )


def list_tokens(
    installation: Installation, actor: Principal, email: str | None = None
) -> list[tuple[StoredToken, str]]:
    """(token, user email) pairs the actor may see: all for the owner, else their own."""
    with installation.store.read() as conn:
        emails = {u.id: u.email for u in queries.list_users(conn)}
        if actor.is_owner:
            user_id = None if email is None else _user(conn, email).id
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


if TYPE_CHECKING:
    from argon2 import PasswordHasher


@cache
def _hasher() -> PasswordHasher:
    # Imported on first use: only sign-in and set-password need it, not every CLI start.
    from argon2 import PasswordHasher

    return PasswordHasher()  # Argon2id, the library's defaults (~90 ms per hash on our machines)


@cache
def _decoy_hash() -> str:
    """A hash to check unknown users against, so that a wrong email takes as long as a wrong
    password and the sign-in's timing does not tell which emails are users."""
    return _hasher().hash(random.token_urlsafe(16))


def set_password(
    installation: Installation, actor: Principal, email: str, password: SecretValue
) -> None:
    """Give ``email`` a web UI password (the server owner, or the user themself); this ends
    every web session the user has open."""
    text = password.reveal()
    if len(text) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(text) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password can have at most {MAX_PASSWORD_CHARS} characters")
    if not (actor.is_owner or actor.name == email):
        refused = Forbidden("only the server owner may set other users' passwords")
        record_denied(
            installation, actor, "user.set_password", refused.message, detail={"user": email}
        )
        raise refused
    hashed = _hasher().hash(text)  # outside the transaction: it is slow on purpose

    def work(conn: Connection) -> None:
        user = _user(conn, email)
        now = installation.clock()
        queries.set_password_hash(conn, user.id, hashed, now)
        ended = session_queries.end_sessions_of(conn, user.id, now)
        record(
            conn, installation, actor, "user.set_password", detail={"user": email, "ended": ended}
        )

    installation.store.transact(work, f"setting the password of {email!r}")


def check_password(
    installation: Installation, email: str, password: SecretValue
) -> StoredUser | None:
    """The user when ``password`` is theirs; None for a wrong password, an unknown user or a
    user without a password, in about the same time for all three."""
    if len(password) > MAX_PASSWORD_CHARS:
        return None
    with installation.store.read() as conn:
        found = queries.user_with_password(conn, email) if EMAIL.fullmatch(email) else None
    user, hashed = found if found is not None else (None, None)
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        _hasher().verify(hashed or _decoy_hash(), password.reveal())
    except (VerificationError, InvalidHashError):
        return None
    return user if hashed is not None else None
