"""The app factory serves the API in-process (fuller tests live beside this one)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from stacksafe.api import create_app
from stacksafe.core.installation import Installation


def test_health_and_openapi_are_served(installation: Installation) -> None:
    client = TestClient(create_app(installation))
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "database": "ok",
        "master_key": "ok",
        "audit": "ok",
        "audit_checkpoint": "ok",
    }
    paths = client.get("/api/3/openapi.json").json()["paths"]
    assert "/api/3/stacks/{stack_uid}/secrets/{key}" in paths
    assert "/api/3/accounts/{account_id}/secrets" in paths


def test_users_endpoint_shows_roles_to_the_owner_and_self_to_others(
    installation: Installation,
) -> None:
    from stacksafe.core.principals import bootstrap_owner, create_token, create_user
    from stacksafe.core.tenancy import create_account
    from tests.actors import LOCAL

    create_account(installation, LOCAL, "acme")
    bootstrap_owner(installation, "owner@example.com")
    create_user(installation, LOCAL, "dev@example.com", "acme", "developer")
    owner = create_token(installation, LOCAL, "owner@example.com", scopes=["public"]).token
    dev = create_token(installation, LOCAL, "dev@example.com", scopes=["public"]).token
    client = TestClient(create_app(installation))
    seen = client.get("/api/3/users", headers={"Authorization": f"Bearer {owner}"}).json()
    assert seen["count"] == 2
    by_email = {u["email"]: u for u in seen["response"]}
    assert by_email["dev@example.com"]["accounts"][0]["role"] == "developer"
    mine = client.get("/api/3/users", headers={"Authorization": f"Bearer {dev}"}).json()
    assert [u["email"] for u in mine["response"]] == ["dev@example.com"]
