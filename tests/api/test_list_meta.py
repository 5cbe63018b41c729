"""A list's ``meta``: each listed key's version, whether it overrides an account secret, and an
account secret's environments, beside Secret objects that keep their six fields; the same on
the fast path and through the FastAPI route, cold and warm."""

from __future__ import annotations

from typing import Any

import pytest

from stacksafe.core.secrets import restrict_secret
from tests.actors import LOCAL
from tests.api.helpers import SECRET_FIELDS, World, set_local

# Through FastAPI: a query the fast path leaves to the route (given twice), read the same.
ROUTE_ONLY = "reveal=false&reveal=false"


@pytest.fixture
def layered(world: World) -> World:
    """acme: SHARED (all environments), STAGING_ONLY (staging), PROD (production and qa);
    web (production): its own SHARED twice (version 2), STAGING_ONLY (nothing to override:
    web does not inherit the account's) and OWN."""
    set_local(world.installation, world.account_target, {"SHARED": "a", "STAGING_ONLY": "s"})
    set_local(world.installation, world.account_target, {"PROD": "p"})
    restrict_secret(world.installation, LOCAL, world.account_target, "STAGING_ONLY", ["staging"])
    restrict_secret(world.installation, LOCAL, world.account_target, "PROD", ["qa", "production"])
    set_local(world.installation, world.stack_target, {"SHARED": "own 1", "STAGING_ONLY": "w"})
    set_local(world.installation, world.stack_target, {"SHARED": "own 2", "OWN": "o"})
    return world


STACK_META: dict[str, dict[str, object]] = {
    "OWN": {"version": 1, "overrides": False, "environments": None},
    "PROD": {"version": 1, "overrides": False, "environments": ["production", "qa"]},
    "SHARED": {"version": 2, "overrides": True, "environments": None},
    "STAGING_ONLY": {"version": 1, "overrides": False, "environments": None},
}
ACCOUNT_META: dict[str, dict[str, object]] = {
    "PROD": {"version": 1, "overrides": False, "environments": ["production", "qa"]},
    "SHARED": {"version": 1, "overrides": False, "environments": None},
    "STAGING_ONLY": {"version": 1, "overrides": False, "environments": ["staging"]},
}


def _listed(world: World, url: str, query: str) -> dict[str, Any]:
    response = world.client.get(f"{url}?{query}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert all(set(item) == SECRET_FIELDS for item in body["response"])
    return body


@pytest.mark.parametrize("query", ["", "reveal=true", ROUTE_ONLY])
def test_stack_list_meta_gives_versions_and_overrides(layered: World, query: str) -> None:
    for _ in range(2):  # cold, then warm (the kept level and the kept page)
        body = _listed(layered, layered.stack_url(), query)
        assert body["meta"] == STACK_META
        assert [s["key"] for s in body["response"]] == sorted(STACK_META)


@pytest.mark.parametrize("query", ["", "reveal=true", ROUTE_ONLY])
def test_account_list_meta_gives_environment_restrictions(layered: World, query: str) -> None:
    assert _listed(layered, layered.account_url(), query)["meta"] == ACCOUNT_META


def test_meta_follows_a_rotation_and_names_only_the_page(layered: World) -> None:
    _listed(layered, layered.stack_url(), "")  # keep the level at its revision
    set_local(layered.installation, layered.account_target, {"PROD": "p2"})
    body = _listed(layered, layered.stack_url(), "per_page=1&page=2")  # OWN | PROD | ...
    assert body["meta"] == {"PROD": {**STACK_META["PROD"], "version": 2}}
    assert body["pagination"]["count"] == 4


def test_openapi_declares_the_meta(world: World) -> None:
    schemas = world.client.get("/api/3/openapi.json").json()["components"]["schemas"]
    listed = schemas["SecretListEnvelope"]
    assert set(listed["required"]) >= {"response", "count", "pagination", "meta"}
    assert set(schemas["SecretMetaOut"]["properties"]) == {"version", "overrides", "environments"}


def test_meta_follows_a_new_restriction_of_a_kept_level(layered: World) -> None:
    assert _listed(layered, layered.account_url(), "")["meta"] == ACCOUNT_META  # kept now
    restrict_secret(layered.installation, LOCAL, layered.account_target, "SHARED", ["qa"])
    shared = _listed(layered, layered.account_url(), "")["meta"]["SHARED"]
    assert shared["environments"] == ["qa"]
    # web (production) no longer inherits SHARED: its own SHARED overrides nothing now.
    assert _listed(layered, layered.stack_url(), "")["meta"]["SHARED"]["overrides"] is False
