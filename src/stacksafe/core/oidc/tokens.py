"""The authorization code exchanged at the provider's token endpoint, and the ID token it
answers checked: its signature against the provider's keys (crypto.jwt, the workload logins'
``IssuerKeys``: fetched again, rate-limited, when the provider rotated them), ``iss``, ``aud``
(the client id), ``exp``/``iat``, the sign-in's ``nonce``, and ``azp`` when present."""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import quote_plus

from stacksafe.core.installation import Installation
from stacksafe.core.oidc.provider import PROVIDER_KEYS, client_secret
from stacksafe.core.outbound_tls import outbound_tls
from stacksafe.core.workload.keys import KeysUnavailable, checked_url, fetch_keys
from stacksafe.core.workload.signed import claims_signed_by
from stacksafe.crypto.jwt import JwtRefused, check_registered_claims
from stacksafe.store import oidc as queries
from stacksafe.store.oidc import StoredProvider

__all__ = ["MAX_ANSWER_BYTES", "exchange_code", "id_token_claims"]

MAX_ANSWER_BYTES = 256 * 1024
MAX_ID_TOKEN_CHARS = 16 * 1024
_TIMEOUT_SECONDS = 10.0


def exchange_code(
    installation: Installation,
    provider: StoredProvider,
    code: str,
    redirect_uri: str,
    verifier: str,
) -> str:
    """The ID token the provider's token endpoint gives for ``code``; ``JwtRefused("token
    endpoint")`` when it answers anything else (its answer is never shown: it may hold
    tokens)."""
    # Imported here: httpx, for a server whose people sign in with a provider only.
    import httpx

    secret = client_secret(installation, provider).reveal()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    auth: httpx.BasicAuth | None = None
    if provider.token_auth_method == "client_secret_post":  # noqa: S105 - a method's name
        form |= {"client_id": provider.client_id, "client_secret": secret}
    else:
        # RFC 6749 2.3.1: both form-urlencoded before they are joined; httpx's BasicAuth does
        # not encode, so a secret with ':' or '%' is encoded here.
        auth = httpx.BasicAuth(quote_plus(provider.client_id), quote_plus(secret))
    try:
        checked_url(provider.token_endpoint)
        with httpx.Client(
            timeout=httpx.Timeout(_TIMEOUT_SECONDS), follow_redirects=False, verify=outbound_tls()
        ) as client:
            answer = client.post(
                provider.token_endpoint,
                data=form,
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                headers={"Accept": "application/json"},
            )
    except (httpx.HTTPError, KeysUnavailable) as exc:
        raise JwtRefused("token endpoint", f"unreachable ({type(exc).__name__})") from None
    if answer.status_code != 200:
        raise JwtRefused("token endpoint", f"HTTP {answer.status_code}")
    if len(answer.content) > MAX_ANSWER_BYTES:
        raise JwtRefused("token endpoint", "the answer is too large")
    try:
        body = json.loads(answer.content)
    except ValueError:
        raise JwtRefused("token endpoint", "the answer is not JSON") from None
    token = body.get("id_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise JwtRefused("token endpoint", "no id_token in the answer")
    if len(token) > MAX_ID_TOKEN_CHARS:
        raise JwtRefused("malformed token", f"over {MAX_ID_TOKEN_CHARS} characters")
    return token


def id_token_claims(
    installation: Installation, provider: StoredProvider, token: str, nonce: str
) -> dict[str, Any]:
    """The claims of the ID token once every check passed (OpenID Connect Core 1.0, 3.1.3.7);
    ``JwtRefused`` naming the first that failed."""
    claims = _signed(installation, provider, token)
    check_registered_claims(
        claims,
        issuer=provider.issuer,
        audiences=(provider.client_id,),
        now=lambda: int(installation.clock().timestamp()),
        leeway=installation.jwt_leeway_seconds,
    )
    if not isinstance(claims.get("iat"), int | float):
        raise JwtRefused("iat", "missing")
    sent = claims.get("nonce")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
        raise JwtRefused("nonce", "not the nonce this sign-in sent")
    audience = claims.get("aud")
    party = claims.get("azp")
    if party is not None and party != provider.client_id:
        raise JwtRefused("azp", "issued to another client")
    if isinstance(audience, list) and len(audience) > 1 and party is None:
        raise JwtRefused("azp", "several audiences and no authorized party")
    return claims


def _signed(installation: Installation, provider: StoredProvider, token: str) -> dict[str, Any]:
    return claims_signed_by(
        installation,
        token,
        key_id=PROVIDER_KEYS,
        updated_at=provider.updated_at,
        jwks=provider.jwks,
        fetch=lambda: fetch_keys("jwks_url", provider.jwks_uri, provider.issuer),
        keep=queries.set_provider_keys,
        what="the single sign-on provider",
    )
