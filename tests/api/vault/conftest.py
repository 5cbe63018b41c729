"""Fixtures of the Vault-compatible API's tests: ``kv`` is the API's ``world`` (account ``acme``,
stack ``web`` in production, an administrator) with a client speaking Vault's headers, on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from stacksafe.core.installation import Installation
from tests.api.helpers import World, build_world


class Kv:
    """``world`` and a client for ``/v1`` sending ``X-Vault-Token``."""

    def __init__(self, world: World, client: TestClient) -> None:
        self.world = world
        self.installation = world.installation
        self.client = client

    def get(self, path: str, **params: Any) -> Response:
        response: Response = self.client.get(f"/v1/secret/data/{path}", params=params)
        return response

    def put(self, path: str, data: dict[str, Any], cas: int | None = None) -> Response:
        body: dict[str, Any] = {"data": data}
        if cas is not None:
            body["options"] = {"cas": cas}
        response: Response = self.client.post(f"/v1/secret/data/{path}", json=body)
        return response

    def patch(self, path: str, data: dict[str, Any], cas: int | None = None) -> Response:
        body: dict[str, Any] = {"data": data}
        if cas is not None:
            body["options"] = {"cas": cas}
        response: Response = self.client.patch(
            f"/v1/secret/data/{path}",
            json=body,
            headers={"Content-Type": "application/merge-patch+json"},
        )
        return response

    def data(self, path: str) -> dict[str, str]:
        response = self.get(path)
        assert response.status_code == 200, response.text
        found: dict[str, str] = response.json()["data"]["data"]
        return found

    def version(self, path: str) -> int:
        response = self.client.get(f"/v1/secret/metadata/{path}")
        assert response.status_code == 200, response.text
        number: int = response.json()["data"]["current_version"]
        return number


def vault_client(world: World, token: str | None) -> TestClient:
    headers = {} if token is None else {"X-Vault-Token": token}
    return TestClient(world.app, headers=headers, raise_server_exceptions=False)


@pytest.fixture
def kv(installation: Installation) -> Iterator[Kv]:
    world = build_world(installation)
    client = vault_client(world, world.admin_token.token)
    with world.client, client:
        yield Kv(world, client)


def errors_of(response: Response, status: int) -> list[str]:
    """Vault's error body: exactly ``{"errors": [...]}`` as ``application/json``."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"errors"}, body
    found: list[str] = body["errors"]
    return found
