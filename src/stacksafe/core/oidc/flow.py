"""The authorization code flow with PKCE (S256), ``state`` and ``nonce``.

Starting a sign-in makes a random *flow secret*, kept in the browser's flow cookie; the
database keeps only its keyed hash, until the browser comes back (once: the row is deleted
then, so a state cannot be replayed) or for ``FLOW_SECONDS`` at most. The ``state``, the
``nonce`` and the PKCE verifier are derived from the flow secret with the server's token-hash
key, so nothing that would help finish a sign-in is stored, and a callback is accepted only in
the browser that started it (a ``state`` without its cookie proves nothing: login CSRF).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from stacksafe.core.access import Principal
from stacksafe.core.audit import record, record_denied
from stacksafe.core.guessing import FailureCounts, Limit, address_counted
from stacksafe.core.installation import Installation
from stacksafe.core.oidc.people import (
    RoleChanges,
    apply_group_roles,
    groups_of,
    user_for,
    verified_email,
)
from stacksafe.core.oidc.provider import provider_of
from stacksafe.core.oidc.tokens import exchange_code, id_token_claims
from stacksafe.core.server_keys import TOKEN_HASH, keyed_hash
from stacksafe.core.sessions import SIGN_IN_ACTOR, SessionPolicy, StartedSession, open_session
from stacksafe.core.workload.claims import text_claim
from stacksafe.crypto.jwt import JwtRefused
from stacksafe.errors import NotFound, Throttled, TooManyFailures, Unauthenticated
from stacksafe.store import Connection
from stacksafe.store import oidc as queries

__all__ = [
    "FLOW_PREFIX",
    "FLOW_SECONDS",
    "MAX_FLOWS",
    "Callback",
    "SignInRefused",
    "SignedIn",
    "StartedFlow",
    "finish_sign_in",
    "start_sign_in",
]

FLOW_PREFIX = "ssf_"
FLOW_SECONDS = 600  # time to sign in at the provider
# Starting a sign-in needs no credential and writes a row: past this many under way (on every
# server), new ones are refused for a while rather than let a flood grow the table.
MAX_FLOWS = 10_000
ACTION = "session.start"
_CLAIM_TEXT = 256
# How a refusal is recorded: (source ip, request id, reason, detail).
Refused = Callable[[str | None, str | None, str, dict[str, str]], None]


class SignInRefused(Unauthenticated):
    """A single sign-on that did not sign anyone in; ``check`` names what failed."""

    def __init__(self, check: str) -> None:
        super().__init__(f"single sign-on refused ({check})")
        self.check = check


@dataclass(frozen=True)
class StartedFlow:
    secret: str  # for the flow cookie; never stored
    url: str  # where the browser is sent: the provider's authorization endpoint

    def __repr__(self) -> str:
        return "StartedFlow(secret='****', url=...)"


@dataclass(frozen=True)
class SignedIn:
    """The session a single sign-on opened, and whose it is."""

    session: StartedSession
    email: str

    def __repr__(self) -> str:
        return f"SignedIn(uid={self.session.uid!r}, email={self.email!r})"


@dataclass(frozen=True)
class Callback:
    """What the provider sent the browser back with, and the flow cookie it came with."""

    flow_secret: str | None = field(repr=False)
    state: str | None
    code: str | None = field(repr=False)
    error: str | None
    redirect_uri: str
    source_ip: str | None = None
    request_id: str | None = None


def _derived(installation: Installation, label: bytes, secret: str) -> str:
    digest = keyed_hash(installation, TOKEN_HASH).digest(label, secret.encode())
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _flow_hash(installation: Installation, secret: str) -> bytes:
    return keyed_hash(installation, TOKEN_HASH).digest(b"oidc-flow", secret.encode())


def _challenge(verifier: str) -> str:
    # RFC 7636 4.2: BASE64URL(SHA256(ASCII(code_verifier))), no padding.
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


STARTS_PER_ADDRESS = Limit("sso-start-address", 30, 60)


def start_sign_in(
    installation: Installation,
    redirect_uri: str,
    most: int = MAX_FLOWS,
    *,
    source_ip: str | None = None,
) -> StartedFlow:
    """A new sign-in: the flow secret for the browser and the provider's URL to send it to.
    At most ``STARTS_PER_ADDRESS`` a minute from one address (anyone may start one, and each
    holds a row until it expires: without it, one client could fill ``most`` for everyone)."""
    provider = provider_of(installation)
    if provider is None:
        raise NotFound("single sign-on is not configured")
    counted = FailureCounts(installation, STARTS_PER_ADDRESS).failed(
        address_counted(source_ip or "unknown")
    )
    if counted.throttled:
        raise TooManyFailures(
            f"too many single sign-ons started from this address; retry in {counted.retry_after} s",
            retry_after=counted.retry_after,
        )
    secret = FLOW_PREFIX + random.token_urlsafe(32)
    now = installation.clock()
    started = installation.store.transact(
        lambda conn: queries.insert_flow(
            conn,
            _flow_hash(installation, secret),
            now + timedelta(seconds=FLOW_SECONDS),
            now,
            most,
        ),
        "starting a single sign-on",
    )
    if not started:
        raise Throttled("too many sign-ins are under way; retry in a minute", retry_after=60)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(provider.scopes),
            "state": _derived(installation, b"oidc-state", secret),
            "nonce": _derived(installation, b"oidc-nonce", secret),
            "code_challenge": _challenge(_derived(installation, b"oidc-pkce", secret)),
            "code_challenge_method": "S256",
        }
    )
    joiner = "&" if "?" in provider.authorization_endpoint else "?"
    return StartedFlow(secret, provider.authorization_endpoint + joiner + query)


def _text(claims: dict[str, Any], name: str) -> str | None:
    return text_claim(claims, name, _CLAIM_TEXT)


def finish_sign_in(
    installation: Installation,
    back: Callback,
    policy: SessionPolicy,
    refused: Refused | None = None,
) -> SignedIn:
    """The provider's answer checked and a session opened, or ``SignInRefused`` (audited as a
    denied ``session.start`` with ``method: sso`` and the ``check``; nothing created).
    ``refused(source_ip, request_id, reason, detail)`` records a refusal instead of one event
    each (core.sign_in.SignIns.refused: bounded per address)."""
    detail: dict[str, str] = {"method": "sso"}
    try:
        provider = provider_of(installation)
        if provider is None:
            raise JwtRefused("not configured", "single sign-on is not configured")
        flow_ok = _take_flow(installation, back.flow_secret)
        secret = back.flow_secret or ""
        expected_state = _derived(installation, b"oidc-state", secret) if flow_ok else ""
        if (
            not flow_ok
            or not back.state
            or not hmac.compare_digest(back.state.encode(), expected_state.encode())
        ):
            raise JwtRefused("state", "no sign-in under way with this state in this browser")
        if back.error is not None:
            raise JwtRefused("provider", "the provider answered an error")
        if not back.code or len(back.code) > 4096:
            raise JwtRefused("code", "no authorization code")
        token = exchange_code(
            installation,
            provider,
            back.code,
            back.redirect_uri,
            _derived(installation, b"oidc-pkce", secret),
        )
        claims = id_token_claims(
            installation, provider, token, _derived(installation, b"oidc-nonce", secret)
        )
        detail |= {k: v for k in ("iss", "sub") if (v := _text(claims, k)) is not None}
        email = verified_email(claims, provider)
        detail["email"] = email
        groups = groups_of(claims, provider)
    except JwtRefused as refusal:
        _refuse(installation, back, refusal, detail, refused)
        installation.meter.logged_in("sso", refusal.check)
        raise SignInRefused(refusal.check) from None

    def work(conn: Connection) -> SignedIn:
        changes = RoleChanges()
        user = user_for(conn, email, installation.clock(), changes)
        apply_group_roles(conn, user, groups, changes)
        if changes.created or changes.granted or changes.removed:
            actor = Principal(
                name=f"oidc:{provider.issuer}"[:300],
                source_ip=back.source_ip,
                request_id=back.request_id,
            )
            record(
                conn,
                installation,
                actor,
                "oidc.roles",
                detail={"user": user.email, **changes.detail()},
            )
        opened = open_session(
            conn,
            installation,
            user,
            policy,
            method="sso",
            source_ip=back.source_ip,
            request_id=back.request_id,
            detail={k: v for k, v in detail.items() if k in ("iss", "sub")},
        )
        return SignedIn(opened, user.email)

    try:
        signed_in = installation.store.transact(work, "signing in with single sign-on")
    except JwtRefused as refusal:  # the user was removed (offboarded): nothing was written
        _refuse(installation, back, refusal, detail, refused)
        installation.meter.logged_in("sso", refusal.check)
        raise SignInRefused(refusal.check) from None
    installation.meter.logged_in("sso", None)
    return signed_in


def _take_flow(installation: Installation, secret: str | None) -> bool:
    """Whether ``secret`` is a sign-in under way that has not expired; it is used up here."""
    if (
        not secret
        or not secret.isascii()
        or not secret.startswith(FLOW_PREFIX)
        or len(secret) > 100
    ):
        return False
    digest = _flow_hash(installation, secret)
    expires_at = installation.store.transact(
        lambda conn: queries.take_flow(conn, digest), "finishing a single sign-on"
    )
    return expires_at is not None and installation.clock() < expires_at


def _refuse(
    installation: Installation,
    back: Callback,
    refusal: JwtRefused,
    detail: dict[str, str],
    refused: Refused | None,
) -> None:
    reason = refusal.check if not refusal.detail else f"{refusal.check}: {refusal.detail}"
    shown = {**detail, "check": refusal.check}
    if refused is not None:
        refused(back.source_ip, back.request_id, reason, shown)
        return
    anonymous = Principal(name=SIGN_IN_ACTOR, source_ip=back.source_ip, request_id=back.request_id)
    record_denied(installation, anonymous, ACTION, reason, detail=shown)
