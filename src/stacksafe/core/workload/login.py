"""A workload's login: its JWT checked against a role, exchanged for a short-lived token.

The checks, in order, each refusal naming the one that failed (``LoginRefused.check``, in the
audit event and the client's message, which says no more than the check's name: nothing that
helps forge a token): the role exists; the JWT is a JWS signed with an asymmetric algorithm by a
key of the role's issuer (chosen by ``kid``; an unknown ``kid`` fetches the issuer's keys again,
rate-limited); ``iss`` is the issuer; ``aud`` holds an audience the role binds; ``exp`` is in
the future and ``nbf``/``iat`` not (``STACKSAFE_JWT_LEEWAY``); every bound claim matches; a
role that refuses replays has not seen the ``jti`` before. The JWT itself is never stored or
logged: the audit events carry the role and its ``iss``, ``sub`` and ``jti``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from stacksafe.core.access import Principal
from stacksafe.core.audit import record, record_denied
from stacksafe.core.installation import Installation
from stacksafe.core.principals.tokens import mint_token
from stacksafe.core.workload.claims import first_mismatch, text_claim
from stacksafe.core.workload.issuers import NAME
from stacksafe.core.workload.keys import fetch_keys
from stacksafe.core.workload.signed import claims_signed_by
from stacksafe.crypto.jwt import JwtRefused, check_registered_claims
from stacksafe.errors import InvalidInput, Unauthenticated
from stacksafe.store import Connection
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store import workload as queries
from stacksafe.store.workload import StoredIssuer, StoredRole

__all__ = ["ACTION", "LoggedIn", "LoginRefused", "login"]

ACTION = "auth.jwt.login"
MAX_JWT_CHARS = 16 * 1024  # GitHub's and Kubernetes' are 1-2 kB
_CLAIM_TEXT = 256  # how much of iss/sub/jti an audit event keeps


class LoginRefused(Unauthenticated):
    """The JWT was not accepted; ``check`` names the check that failed."""

    def __init__(self, check: str) -> None:
        super().__init__(f"login refused ({check})")
        self.check = check


@dataclass(frozen=True)
class LoggedIn:
    """The token a login issued (its value is shown once, here) and what it may do."""

    token: str = field(repr=False)
    uid: str
    role: str
    account_uid: str
    expires_at: datetime
    ttl_seconds: int
    scopes: tuple[str, ...]
    stack_uids: tuple[str, ...] | None
    environments: tuple[str, ...] | None
    subject: str | None


def _text(claims: dict[str, Any], name: str) -> str | None:
    return text_claim(claims, name, _CLAIM_TEXT)


def login(
    installation: Installation,
    role_name: str,
    jwt: str,
    *,
    method: str = "jwt",
    source_ip: str | None = None,
    request_id: str | None = None,
) -> LoggedIn:
    """Check ``jwt`` against the role ``role_name`` and issue its token, or ``LoginRefused``."""
    if not isinstance(role_name, str) or not role_name or len(role_name) > 64:
        raise InvalidInput("a login needs the role's name (role)")
    if not isinstance(jwt, str) or not jwt:
        raise InvalidInput("a login needs the workload's token (jwt)")
    if not NAME.fullmatch(role_name):
        # Never a role (their names are checked when made): refused without a lookup, and the
        # name is not echoed into the audit log (it may hold anything, a NUL or a JWT).
        role_name = "(not a role name)"
    asker = Principal(name=f"jwt:{role_name}", source_ip=source_ip, request_id=request_id)
    detail: dict[str, Any] = {"role": role_name, "method": method}
    try:
        with installation.store.read() as conn:
            role = queries.role_by_name(conn, role_name)
            if role is None:
                raise JwtRefused("role", "no such role")
            issuer = queries.issuer_of_id(conn, role.issuer_id)
        if len(jwt) > MAX_JWT_CHARS:
            raise JwtRefused("malformed token", f"over {MAX_JWT_CHARS} characters")
        claims = _signed(installation, issuer, jwt)
        detail.update(
            {"iss": _text(claims, "iss"), "sub": _text(claims, "sub"), "jti": _text(claims, "jti")}
        )
        check_registered_claims(
            claims,
            issuer=issuer.issuer,
            audiences=role.audiences,
            now=lambda: int(installation.clock().timestamp()),
            leeway=installation.jwt_leeway_seconds,
        )
        mismatch = first_mismatch(claims, role.claims)
        if mismatch is not None:
            raise JwtRefused(f"claim {mismatch}", "absent or another value than the role binds")
        if role.refuse_replay and _text(claims, "jti") is None:
            raise JwtRefused("jti", "the role refuses replays and the token has no jti")
    except JwtRefused as refused:
        _refused(installation, asker, refused, detail)
        installation.meter.logged_in(method, refused.check)
        raise LoginRefused(refused.check) from None
    issued = _issue(installation, asker, role, issuer, claims, detail, method)
    installation.meter.logged_in(method, None)
    return issued


def _signed(installation: Installation, issuer: StoredIssuer, jwt: str) -> dict[str, Any]:
    def keep(conn: Connection, jwks: str, now: datetime) -> None:
        queries.set_issuer_keys(conn, issuer.id, jwks, now)

    return claims_signed_by(
        installation,
        jwt,
        key_id=issuer.id,
        updated_at=issuer.updated_at,
        jwks=issuer.jwks,
        # A file's keys are never fetched: the issuer is added again with the new file.
        fetch=None
        if issuer.keys_from == "file"
        else lambda: fetch_keys(issuer.keys_from, issuer.keys_url or "", issuer.issuer),
        keep=keep,
        what=f"issuer {issuer.name}",
    )


def _replayable_until(expiry: object, leeway: int, now: datetime) -> datetime:
    """Until when a token could still be accepted, so its jti must be remembered: its ``exp``
    plus the leeway the check allows (and never a moment already past)."""
    try:
        until = datetime.fromtimestamp(float(expiry), UTC) + timedelta(seconds=leeway)  # type: ignore[arg-type]
    except (OverflowError, ValueError, TypeError, OSError):
        raise JwtRefused("expiry", "exp is out of range") from None
    return max(until, now + timedelta(seconds=1))


def _refused(
    installation: Installation, asker: Principal, refused: JwtRefused, detail: dict[str, Any]
) -> None:
    reason = refused.check if not refused.detail else f"{refused.check}: {refused.detail}"
    shown = {k: v for k, v in detail.items() if v is not None}
    record_denied(installation, asker, ACTION, reason, detail={**shown, "check": refused.check})


def _issue(
    installation: Installation,
    asker: Principal,
    role: StoredRole,
    issuer: StoredIssuer,
    claims: dict[str, Any],
    detail: dict[str, Any],
    method: str,
) -> LoggedIn:
    subject, token_id = _text(claims, "sub"), _text(claims, "jti")
    acting = f"jwt:{role.name}" + (f" sub={subject}" if subject else "")
    acting += f" jti={token_id}" if token_id else ""
    ttl = timedelta(seconds=role.ttl_seconds)

    def work(conn: Connection) -> LoggedIn:
        now = installation.clock()
        # The role as it is now, locked: a removal between the checks and here would otherwise
        # miss the token this issues (it revokes the role's tokens under the same lock).
        current = queries.role_for_update(conn, role.id)
        if current != role:
            raise JwtRefused("role", "the role was removed or changed during the login")
        if role.refuse_replay and token_id is not None:
            until = _replayable_until(claims.get("exp"), installation.jwt_leeway_seconds, now)
            if not queries.see_token_id(conn, issuer.id, token_id, until, now):
                raise JwtRefused("replayed token", "the role refuses a jti seen before")
        account = tenancy_queries.account_by_id(conn, role.account_id)
        created = mint_token(
            conn,
            installation,
            user_id=role.user_id,
            scopes=role.scopes,
            stack_uids=role.stack_uids,
            environments=role.environments,
            expires_at=now + ttl,
            actor=acting,
        )
        shown = {k: v for k, v in detail.items() if v is not None}
        record(
            conn,
            installation,
            asker,
            ACTION,
            account=account,
            detail={**shown, "token": created.uid, "ttl": role.ttl_seconds},
        )
        return LoggedIn(
            created.token,
            created.uid,
            role.name,
            "" if account is None else account.uid,
            now + ttl,
            role.ttl_seconds,
            role.scopes,
            role.stack_uids,
            role.environments,
            subject,
        )

    try:
        return installation.store.transact(work, f"logging in as {role.name}")
    except JwtRefused as refused:
        _refused(installation, asker, refused, detail)
        installation.meter.logged_in(method, refused.check)
        raise LoginRefused(refused.check) from None
