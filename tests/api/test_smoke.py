"""The app factory serves the API in-process (fuller tests live beside this one)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from stacksafe.api import create_app
from stacksafe.core.vault import Vault


def test_health_and_openapi_are_served(vault: Vault) -> None:
    client = TestClient(create_app(vault))
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "master_key": "ok", "audit": "ok"}
    paths = client.get("/api/3/openapi.json").json()["paths"]
    assert "/api/3/stacks/{stack_uid}/secrets/{key}" in paths
    assert "/api/3/accounts/{account_id}/secrets" in paths
