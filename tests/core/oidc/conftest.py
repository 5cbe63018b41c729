"""A provider on loopback (tests/jwt_issuer.py: discovery, keys, a token endpoint answering what
the test signs), accounts ``acme`` and ``beta``, and single sign-on configured with it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from stacksafe.core.installation import Installation
from stacksafe.core.oidc.flow import Callback, SignedIn, finish_sign_in, start_sign_in
from stacksafe.core.oidc.provider import GroupMapping, ProviderSettings, configure_provider
from stacksafe.core.sessions import SessionPolicy
from stacksafe.core.tenancy import create_account
from stacksafe.model import Account, SecretValue
from stacksafe.store.principals import account_roles, list_users
from tests.actors import LOCAL
from tests.jwt_issuer import Issuer, running_issuer

CLIENT_ID, SECRET = "stacksafe-web", "the-client-secret:%&"
REDIRECT = "https://secrets.example.test/sign-in/sso/callback"


def id_claims(issuer: Issuer, sent_nonce: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer.url,
        "sub": "user-1",
        "aud": CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "nonce": sent_nonce,
        "email": "ada@acme.test",
        "email_verified": True,
        "groups": ["acme-admins"],
    }
    for key, value in overrides.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims


@dataclass
class Site:
    installation: Installation
    issuer: Issuer
    acme: Account
    beta: Account

    def configure(self, **changes: Any) -> None:
        settings = ProviderSettings(
            issuer=self.issuer.url,
            client_id=CLIENT_ID,
            client_secret=SecretValue(SECRET),
            groups_claim="groups",
            mappings=[
                GroupMapping("acme-admins", "acme", "administrator"),
                GroupMapping("acme-devs", "acme", "developer"),
                GroupMapping("acme-viewers", "acme", "viewer"),
            ],
            allowed_domains=["acme.test"],
        )
        configure_provider(self.installation, LOCAL, _replaced(settings, changes))

    def start(self) -> tuple[str, dict[str, str]]:
        """A sign-in started: its flow secret and the query sent to the provider."""
        flow = start_sign_in(self.installation, REDIRECT)
        query = {k: v[0] for k, v in parse_qs(urlsplit(flow.url).query).items()}
        return flow.secret, query

    def sign_in(self, **overrides: Any) -> SignedIn:
        """A whole sign-in whose ID token has the claims ``overrides`` change."""
        secret, query = self.start()
        token = self.issuer.sign(id_claims(self.issuer, query["nonce"], **overrides))
        self.issuer.token_answers.append((200, {"id_token": token, "token_type": "Bearer"}))
        return self.finish(secret, query["state"])

    def finish(self, secret: str | None, state: str | None, code: str = "the-code") -> SignedIn:
        back = Callback(secret, state, code, None, REDIRECT, source_ip="192.0.2.7")
        return finish_sign_in(self.installation, back, SessionPolicy())

    def users(self) -> dict[str, dict[int, str]]:
        with self.installation.store.read() as conn:
            return {u.email: account_roles(conn, u.id) for u in list_users(conn)}


def _replaced(settings: ProviderSettings, changes: dict[str, Any]) -> ProviderSettings:
    from dataclasses import replace

    return replace(settings, **changes)


@pytest.fixture
def site(installation: Installation) -> Iterator[Site]:
    with running_issuer() as issuer:
        acme = create_account(installation, LOCAL, "acme")
        beta = create_account(installation, LOCAL, "beta")
        made = Site(installation, issuer, acme, beta)
        made.configure()
        yield made
