"""Vault's workload logins (api.vault.auth): ``auth/jwt/login`` and ``auth/kubernetes/login``
without a token, answered with Vault's ``auth`` block; the token they give reads its stack's
KV path and nothing else; refusals are 400 with one message, as Vault answers them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from stacksafe.core.workload.issuers import IssuerSource, add_issuer
from stacksafe.core.workload.roles import ClaimBinding, RoleGrant, add_role
from tests.actors import LOCAL
from tests.api.helpers import World
from tests.api.vault.conftest import Kv, errors_of, vault_client
from tests.api.workload_site import workload_site
from tests.jwt_issuer import github_claims, kubernetes_claims

pytestmark = pytest.mark.databases("sqlite")  # the face's part; core/workload runs on both

AUTH_KEYS = {
    "client_token",
    "accessor",
    "policies",
    "token_policies",
    "metadata",
    "lease_duration",
    "renewable",
    "entity_id",
    "token_type",
    "orphan",
    "mfa_requirement",
    "num_uses",
}


def _login(world: World, mount: str, role: str, jwt: str) -> dict[str, object]:
    with vault_client(world, None) as anonymous:
        response = anonymous.post(f"/v1/auth/{mount}/login", json={"role": role, "jwt": jwt})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None
    auth: dict[str, object] = body["auth"]
    assert set(auth) == AUTH_KEYS
    return auth


def test_jwt_login_gives_a_token_for_its_stacks_path_only(kv: Kv) -> None:
    world = kv.world
    with workload_site(world) as (issuer, _):
        claims = github_claims(issuer.url)
        auth = _login(world, "jwt", "deploy", issuer.sign(claims))
        assert auth["renewable"] is False
        assert auth["lease_duration"] == 900
        assert auth["token_policies"] == ["default", "stacksafe-admin", "stacksafe-public"]
        assert auth["metadata"] == {
            "role": "deploy",
            "account": world.account.uid,
            "sub": claims["sub"],
            "stacks": world.stack.uid,
        }
        with vault_client(world, str(auth["client_token"])) as client:
            web = client.get("/v1/secret/data/acme/web")
            assert web.status_code == 200, web.text
            assert web.json()["data"]["data"] == {"WEB_KEY": "web-v"}
            errors_of(client.get("/v1/secret/data/acme/api"), 403)
            looked = client.get("/v1/auth/token/lookup-self").json()["data"]
            assert looked["accessor"] == auth["accessor"]
            assert 0 < looked["ttl"] <= 900
            assert looked["display_name"].startswith("jwt:deploy sub=repo:acme/web")


def test_kubernetes_login_with_a_service_account_token(kv: Kv) -> None:
    world = kv.world
    cluster = "https://kubernetes.default.svc.cluster.local"
    with workload_site(world) as (issuer, _):
        add_issuer(
            world.installation,
            LOCAL,
            "cluster",
            issuer=cluster,
            source=IssuerSource("file", jwks_text=issuer.jwks_text()),
        )
        add_role(
            world.installation,
            LOCAL,
            "shop-web",
            issuer="cluster",
            audiences=["stacksafe"],
            claims=[ClaimBinding("sub", False, ("system:serviceaccount:shop:web",))],
            grant=RoleGrant(account="acme", role="deployer", stacks=["web"]),
        )
        auth = _login(world, "kubernetes", "shop-web", issuer.sign(kubernetes_claims(cluster)))
        with vault_client(world, str(auth["client_token"])) as client:
            assert client.get("/v1/secret/data/acme/web").status_code == 200


def test_refusals_are_400_with_one_message_and_need_no_token(kv: Kv) -> None:
    world = kv.world
    with workload_site(world) as (issuer, _), vault_client(world, None) as anonymous:
        wrong = issuer.sign(github_claims(issuer.url, audience="elsewhere"))
        for body, message in (
            ({"role": "deploy", "jwt": wrong}, "login refused (audience)"),
            ({"role": "nosuch", "jwt": wrong}, "login refused (role)"),
            ({"jwt": wrong}, "missing role"),
            ({"role": "deploy"}, "missing jwt"),
        ):
            response = anonymous.post("/v1/auth/jwt/login", json=body)
            assert errors_of(response, 400) == [message]
        # Not a login mount: the request needs a token like any other.
        assert errors_of(anonymous.post("/v1/auth/approle/login", json={}), 403) == [
            "permission denied"
        ]


def test_a_login_is_not_answered_to_get(kv: Kv) -> None:
    with TestClient(kv.world.app, raise_server_exceptions=False) as anonymous:
        errors_of(anonymous.get("/v1/auth/jwt/login"), 403)


def test_a_deeply_nested_body_is_a_400(kv: Kv) -> None:
    with vault_client(kv.world, None) as anonymous:
        body = "[" * 100_000 + "]" * 100_000
        response = anonymous.post(
            "/v1/auth/jwt/login", content=body, headers={"Content-Type": "application/json"}
        )
    assert errors_of(response, 400) == ["failed to parse JSON input: the body is not valid JSON"]
