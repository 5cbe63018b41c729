"""Authentication: the principal a bearer token stands for.

A token is looked up by its keyed hash (``HMAC-SHA256(token-hash key, token)``) through a unique
index; the final comparison is constant-time. ``authenticate`` gives the principal;
``authenticate_for_stack`` the principal and the stack asked for from one read (the reveal
service's: core.reveal), waiting or (``wait=False``, on the event loop) only when at hand.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import replace
from typing import Literal, overload

from stacksafe.core.access import Principal, can_see_stack
from stacksafe.core.installation import Installation
from stacksafe.core.principals.tokens import TOKEN_PREFIX
from stacksafe.core.principals.users import principal_for_user
from stacksafe.core.server_keys import TOKEN_HASH, keyed_hash
from stacksafe.core.tenancy import Target, stack_target_of
from stacksafe.core.validation import unstorable
from stacksafe.errors import Unauthenticated
from stacksafe.model import Account, Stack
from stacksafe.store import Connection
from stacksafe.store import principals as queries
from stacksafe.store import tenancy as tenancy_queries

__all__ = ["authenticate", "authenticate_for_stack", "authenticate_for_stack_on_loop"]


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


@overload
def authenticate_for_stack(
    installation: Installation,
    token: str,
    stack_uid: str,
    *,
    source_ip: str | None = ...,
    request_id: str | None = ...,
    wait: Literal[True] = ...,
) -> tuple[Principal, Callable[[], Target]]: ...


@overload
def authenticate_for_stack(
    installation: Installation,
    token: str,
    stack_uid: str,
    *,
    source_ip: str | None = ...,
    request_id: str | None = ...,
    wait: bool,
) -> tuple[Principal, Callable[[], Target]] | None: ...


def authenticate_for_stack(
    installation: Installation,
    token: str,
    stack_uid: str,
    *,
    source_ip: str | None = None,
    request_id: str | None = None,
    wait: bool = True,
) -> tuple[Principal, Callable[[], Target]] | None:
    """``authenticate``, and ``visible_target(stack_uid=..., for_reading=True)`` for the
    caller to call after its own checks (a rate limit): both from one read, mostly one query
    (for the hot read, core.reveal, where a transaction and a query of their own for each
    were a large share of the server's CPU per request: bench/README.md, api_bench.py).

    ``wait`` False: only when all of it is at hand without waiting (the database read at
    once, store.nowait; the token's principal kept under the revision read, core.known_tokens;
    the token unexpired and the stack visible to it); otherwise None, having changed and
    recorded nothing, and the caller asks again with ``wait``, which reads, waits and refuses
    as always. For the event loop."""
    if not wait:
        return _at_hand(installation, token, stack_uid, source_ip, request_id)
    digest = _token_digest(installation, token)
    with installation.store.read() as conn:
        if unstorable(stack_uid):
            revision, found = queries.principals_revision_of(conn), None
        else:
            revision, found = tenancy_queries.stack_request(conn, stack_uid)
        principal = _principal_at(installation, conn, digest, revision)
    actor = _for_request(installation, principal, source_ip, request_id)
    return actor, lambda: stack_target_of(installation, actor, stack_uid, found)


async def authenticate_for_stack_on_loop(
    installation: Installation,
    token: str,
    stack_uid: str,
    *,
    source_ip: str | None = None,
    request_id: str | None = None,
) -> tuple[Principal, Callable[[], Target]] | None:
    """``authenticate_for_stack(..., wait=False)`` for the event loop, its one read awaited
    there when the database is across the network (PostgreSQL: store.loop_reader) rather than
    refused: at hand when the token's principal is kept and the stack visible, else None."""
    reader = installation.store.loop_reader
    if reader is None:
        return _at_hand(installation, token, stack_uid, source_ip, request_id)
    digest = _digest_at_hand(installation, token, stack_uid)
    if digest is None:
        return None
    read = await tenancy_queries.loop_stack_request(reader, stack_uid)
    return _known_at(installation, digest, read, source_ip, request_id)


def _at_hand(
    installation: Installation,
    token: str,
    stack_uid: str,
    source_ip: str | None,
    request_id: str | None,
) -> tuple[Principal, Callable[[], Target]] | None:
    reader = installation.store.nowait
    digest = None if reader is None else _digest_at_hand(installation, token, stack_uid)
    if reader is None or digest is None:
        return None
    read = tenancy_queries.nowait_stack_request(reader, stack_uid)
    return _known_at(installation, digest, read, source_ip, request_id)


def _digest_at_hand(installation: Installation, token: str, stack_uid: str) -> bytes | None:
    """The token's digest, when the token and the uid could be found at all (else None: the
    waiting read refuses them)."""
    if unstorable(stack_uid):
        return None
    try:
        return _token_digest(installation, token)
    except Unauthenticated:
        return None


def _known_at(
    installation: Installation,
    digest: bytes,
    read: tuple[str, tuple[Stack, Account, str] | None] | None,
    source_ip: str | None,
    request_id: str | None,
) -> tuple[Principal, Callable[[], Target]] | None:
    """The principal and the stack from ``read`` (the principals revision and the stack), when
    the token's principal is kept under that revision and may see the stack; else None."""
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
    target = Target(account, stack, secrets_revision)
    return principal.for_request(source_ip, request_id), lambda: target


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
    return principal.for_request(source_ip, request_id)


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
    # A removed user's tokens were revoked with the removal; the mark is checked as well, so
    # that no token of theirs (one revoked in the same breath or not) stands for them.
    if stored.revoked_at is not None or user.removed_at is not None:
        raise Unauthenticated("the token was revoked")
    return replace(
        principal_for_user(conn, user),
        name=stored.actor or user.email,
        token_uid=stored.uid,
        scopes=frozenset(stored.scopes),
        token_stacks=None if stored.stack_uids is None else frozenset(stored.stack_uids),
        token_environments=None if stored.environments is None else frozenset(stored.environments),
        token_expires_at=stored.expires_at,
    )
