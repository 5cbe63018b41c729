"""Secrets over HTTP at account and stack level, on SQLite and on PostgreSQL.

Create, read, replace and delete; a stack's effective set with inherited flags; overrides; the
exact Secret object; ETag / If-Match; the bulk import; pagination.
"""

from __future__ import annotations

from typing import Any

import pytest

from stacksafe.core.secrets import get_secret
from stacksafe.errors import NotFound
from tests.actors import LOCAL
from tests.api.helpers import SECRET_FIELDS, World, assert_error, set_local, snapshot


def _secret(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == {"response"}, body
    secret: dict[str, Any] = body["response"]
    assert set(secret) == SECRET_FIELDS, secret
    return secret


def _revealed(world: World, url: str) -> dict[str, Any]:
    response = world.client.get(url, params={"reveal": "true"})
    assert response.status_code == 200, response.text
    return _secret(response.json())


@pytest.mark.parametrize("level", ["account", "stack"])
def test_create_read_replace_delete(world: World, level: str) -> None:
    url = world.account_url if level == "account" else world.stack_url
    inherited = level == "account"

    created = world.client.post(url(), json={"key": "API_KEY", "raw_value": "first-9f1c"})
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"'
    secret = _secret(created.json())
    assert secret["key"] == "API_KEY"
    assert secret["raw_value"] is None
    assert secret["inherited"] is inherited
    assert secret["value"].startswith("encrypted:AES256:")
    assert "first-9f1c" not in created.text

    fetched = world.client.get(url("API_KEY"))
    assert fetched.status_code == 200
    assert fetched.headers["etag"] == '"1"'
    assert _secret(fetched.json())["raw_value"] is None
    assert "first-9f1c" not in fetched.text
    assert _revealed(world, url("API_KEY"))["raw_value"] == "first-9f1c"

    replaced = world.client.put(url("API_KEY"), json={"raw_value": "second-2b7d"})
    assert replaced.status_code == 200, replaced.text
    assert replaced.headers["etag"] == '"2"'
    assert _secret(replaced.json())["inherited"] is inherited
    assert _revealed(world, url("API_KEY"))["raw_value"] == "second-2b7d"

    listed = world.client.get(url())
    assert listed.status_code == 200
    assert [s["key"] for s in listed.json()["response"]] == ["API_KEY"]

    deleted = world.client.delete(url("API_KEY"))
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"response": {"key": "API_KEY", "deleted": True}}
    assert_error(world.client.get(url("API_KEY")), 404, "not_found")
    assert_error(world.client.delete(url("API_KEY")), 404, "not_found")
    assert world.client.get(url()).json()["response"] == []


def test_put_creates_a_missing_key(world: World) -> None:
    response = world.client.put(world.stack_url("NEW_KEY"), json={"raw_value": "n-1"})
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"1"'
    assert _revealed(world, world.stack_url("NEW_KEY"))["raw_value"] == "n-1"


def test_stack_list_is_the_effective_set_with_inherited_flags(world: World) -> None:
    set_local(world.installation, world.account_target, {"A_SHARED": "acct-a", "B_OVER": "acct-b"})
    set_local(world.installation, world.stack_target, {"B_OVER": "stack-b", "C_OWN": "stack-c"})

    stack_list = world.client.get(world.stack_url(), params={"reveal": "true"})
    assert stack_list.status_code == 200
    got = [(s["key"], s["raw_value"], s["inherited"]) for s in stack_list.json()["response"]]
    assert got == [
        ("A_SHARED", "acct-a", True),
        ("B_OVER", "stack-b", False),
        ("C_OWN", "stack-c", False),
    ]
    assert stack_list.json()["count"] == 3

    account_list = world.client.get(world.account_url(), params={"reveal": "true"})
    got = [(s["key"], s["raw_value"], s["inherited"]) for s in account_list.json()["response"]]
    assert got == [("A_SHARED", "acct-a", True), ("B_OVER", "acct-b", True)]

    inherited_one = _secret(world.client.get(world.stack_url("A_SHARED")).json())
    assert inherited_one["inherited"] is True


def test_put_on_an_inherited_key_overrides_and_delete_restores_inheritance(world: World) -> None:
    set_local(world.installation, world.account_target, {"DB_URL": "acct-url"})
    assert _revealed(world, world.stack_url("DB_URL"))["inherited"] is True

    put = world.client.put(world.stack_url("DB_URL"), json={"raw_value": "stack-url"})
    assert put.status_code == 200, put.text
    assert _secret(put.json())["inherited"] is False
    assert put.headers["etag"] == '"1"'  # the stack's own version, not the account's

    override = _revealed(world, world.stack_url("DB_URL"))
    assert (override["raw_value"], override["inherited"]) == ("stack-url", False)
    account_side = _revealed(world, world.account_url("DB_URL"))
    assert account_side["raw_value"] == "acct-url"

    deleted = world.client.delete(world.stack_url("DB_URL"))
    assert deleted.status_code == 200, deleted.text
    restored = _revealed(world, world.stack_url("DB_URL"))
    assert (restored["raw_value"], restored["inherited"]) == ("acct-url", True)
    assert _revealed(world, world.account_url("DB_URL"))["raw_value"] == "acct-url"


def test_deleting_a_key_the_stack_only_inherits_is_409(world: World) -> None:
    set_local(world.installation, world.account_target, {"SHARED": "acct-shared"})
    before = snapshot(world.installation)

    body = assert_error(world.client.delete(world.stack_url("SHARED")), 409, "conflict")
    assert "account level" in body["error_description"]
    assert "acct-shared" not in str(body)
    assert snapshot(world.installation) == before
    assert _revealed(world, world.stack_url("SHARED"))["raw_value"] == "acct-shared"


def test_posting_an_existing_key_is_409_and_changes_nothing(world: World) -> None:
    for url in (world.account_url, world.stack_url):
        assert world.client.post(url(), json={"key": "K", "raw_value": "kept"}).status_code == 201
    before = snapshot(world.installation)

    for url in (world.account_url, world.stack_url):
        response = world.client.post(url(), json={"key": "K", "raw_value": "intruder-77"})
        body = assert_error(response, 409, "conflict")
        assert "PUT" in body["error_description"]
        assert "intruder-77" not in response.text
    assert snapshot(world.installation) == before


def test_posting_a_key_the_stack_only_inherits_creates_an_override(world: World) -> None:
    set_local(world.installation, world.account_target, {"K": "acct"})
    response = world.client.post(world.stack_url(), json={"key": "K", "raw_value": "own"})
    assert response.status_code == 201, response.text
    assert _secret(response.json())["inherited"] is False
    assert _revealed(world, world.account_url("K"))["raw_value"] == "acct"


def test_secret_json_is_exactly_the_six_fields_and_raw_value_needs_reveal(world: World) -> None:
    set_local(world.installation, world.account_target, {"INHERITED": "iv-1"})
    created = world.client.post(world.stack_url(), json={"key": "OWN", "raw_value": "ov-1"})
    replaced = world.client.put(world.stack_url("OWN"), json={"raw_value": "ov-2"})
    responses = {
        "post": created,
        "put": replaced,
        "get": world.client.get(world.stack_url("OWN")),
        "get reveal=false": world.client.get(world.stack_url("OWN"), params={"reveal": "false"}),
    }
    for what, response in responses.items():
        assert response.status_code in (200, 201), what
        secret = _secret(response.json())
        assert secret["raw_value"] is None, what
        assert "ov-1" not in response.text
        assert "ov-2" not in response.text
        assert secret["created_at_iso"].endswith("Z")
        assert secret["updated_at_iso"].endswith("Z")

    listed = world.client.get(world.stack_url()).json()
    assert set(listed) == {"response", "count", "pagination", "meta"}
    assert set(listed["meta"]) == {s["key"] for s in listed["response"]}
    for secret in listed["response"]:
        assert set(secret) == SECRET_FIELDS
        assert secret["raw_value"] is None
    revealed_list = world.client.get(world.stack_url(), params={"reveal": "true"}).json()
    assert {s["key"]: s["raw_value"] for s in revealed_list["response"]} == {
        "INHERITED": "iv-1",
        "OWN": "ov-2",
    }
    for secret in revealed_list["response"]:
        assert set(secret) == SECRET_FIELDS


def test_etag_and_if_match(world: World) -> None:
    world.client.post(world.stack_url(), json={"key": "K", "raw_value": "v1"})
    fetched = world.client.get(world.stack_url("K"))
    assert fetched.headers["etag"] == '"1"'
    before = snapshot(world.installation)

    stale_put = world.client.put(
        world.stack_url("K"), json={"raw_value": "lost-update"}, headers={"If-Match": '"7"'}
    )
    body = assert_error(stale_put, 412, "precondition_failed")
    assert "lost-update" not in stale_put.text
    assert "version 1" in body["error_description"]
    assert_error(world.client.delete(world.stack_url("K"), headers={"If-Match": '"2"'}), 412)
    assert snapshot(world.installation) == before

    matched = world.client.put(
        world.stack_url("K"), json={"raw_value": "v2"}, headers={"If-Match": '"1"'}
    )
    assert matched.status_code == 200, matched.text
    assert matched.headers["etag"] == '"2"'
    assert world.client.get(world.stack_url("K")).headers["etag"] == '"2"'
    weak = world.client.put(
        world.stack_url("K"), json={"raw_value": "v3"}, headers={"If-Match": 'W/"2"'}
    )
    assert weak.status_code == 200, weak.text
    assert _revealed(world, world.stack_url("K"))["raw_value"] == "v3"

    assert_error(world.client.delete(world.stack_url("K"), headers={"If-Match": '"2"'}), 412)
    deleted = world.client.delete(world.stack_url("K"), headers={"If-Match": '"3"'})
    assert deleted.status_code == 200, deleted.text
    assert_error(world.client.get(world.stack_url("K")), 404)


def test_if_match_zero_means_create_only(world: World) -> None:
    first = world.client.put(
        world.account_url("ONCE"), json={"raw_value": "a"}, headers={"If-Match": '"0"'}
    )
    assert first.status_code == 200, first.text
    again = world.client.put(
        world.account_url("ONCE"), json={"raw_value": "b"}, headers={"If-Match": '"0"'}
    )
    assert_error(again, 412, "precondition_failed")
    assert _revealed(world, world.account_url("ONCE"))["raw_value"] == "a"


CLIENT_VALUE_BODIES: list[tuple[str, str | None, dict[str, str]]] = [
    ("POST", None, {"key": "K", "value": "client-made-ciphertext"}),
    ("POST", None, {"key": "K", "raw_value": "x", "value": "client-made-ciphertext"}),
    ("PUT", "K", {"value": "client-made-ciphertext"}),
    ("PUT", "K", {"raw_value": "x", "value": "client-made-ciphertext"}),
]


def test_a_client_supplied_value_is_refused_naming_raw_value(world: World) -> None:
    before = snapshot(world.installation)
    for method, path_key, body in CLIENT_VALUE_BODIES:
        for url in (world.account_url, world.stack_url):
            response = world.client.request(method, url(path_key), json=body)
            error = assert_error(response, 400, "bad_request")
            assert "raw_value" in error["error_description"], (method, body)
            assert "client-made-ciphertext" not in response.text
    assert snapshot(world.installation) == before


def test_bulk_import_reports_added_changed_unchanged(world: World) -> None:
    set_local(world.installation, world.stack_target, {"SAME": "s", "OLD": "o1"})
    set_local(world.installation, world.account_target, {"FROM_ACCOUNT": "acct"})

    response = world.client.put(
        world.stack_url(),
        json={"secrets": {"SAME": "s", "OLD": "o2", "NEW": "n", "FROM_ACCOUNT": "stack"}},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "response": {
            "added": ["FROM_ACCOUNT", "NEW"],
            "changed": ["OLD"],
            "unchanged": ["SAME"],
        }
    }
    listed = world.client.get(world.stack_url(), params={"reveal": "true"}).json()["response"]
    assert {s["key"]: (s["raw_value"], s["inherited"]) for s in listed} == {
        "SAME": ("s", False),
        "OLD": ("o2", False),
        "NEW": ("n", False),
        "FROM_ACCOUNT": ("stack", False),
    }
    assert _revealed(world, world.account_url("FROM_ACCOUNT"))["raw_value"] == "acct"
    assert world.client.get(world.stack_url("SAME")).headers["etag"] == '"1"'

    again = world.client.put(world.account_url(), json={"secrets": {"FROM_ACCOUNT": "acct"}})
    assert again.json()["response"] == {"added": [], "changed": [], "unchanged": ["FROM_ACCOUNT"]}


def test_bulk_import_is_all_or_nothing(world: World) -> None:
    set_local(world.installation, world.stack_target, {"EXISTING": "e1"})
    before = snapshot(world.installation)

    for bad_key in ["bad key", "../x", "", "x" * 256, "a/b"]:
        for url in (world.account_url, world.stack_url):
            response = world.client.put(
                url(),
                json={"secrets": {"EXISTING": "e2-bulk", "FRESH": "f-bulk", bad_key: "bad-bulk"}},
            )
            assert_error(response, 400, "bad_request")
            assert "bulk" not in response.text
    assert snapshot(world.installation) == before
    assert_error(world.client.get(world.stack_url("FRESH")), 404)


def test_pagination_of_45_secrets(world: World) -> None:
    keys = [f"KEY_{n:02d}" for n in range(45)]
    imported = world.client.put(world.stack_url(), json={"secrets": {k: f"v{k}" for k in keys}})
    assert imported.status_code == 200, imported.text
    assert imported.json()["response"]["added"] == keys

    default = world.client.get(world.stack_url()).json()
    assert len(default["response"]) == 30
    assert default["count"] == 45
    assert default["pagination"] == {
        "previous": None,
        "next": 2,
        "current": 1,
        "per_page": 30,
        "count": 45,
        "pages": 2,
    }

    seen: list[str] = []
    expected = [
        (1, None, 2, 20),
        (2, 1, 3, 20),
        (3, 2, None, 5),
    ]
    for page, previous, following, size in expected:
        body = world.client.get(world.stack_url(), params={"page": page, "per_page": 20}).json()
        assert body["pagination"] == {
            "previous": previous,
            "next": following,
            "current": page,
            "per_page": 20,
            "count": 45,
            "pages": 3,
        }
        assert body["count"] == 45
        assert len(body["response"]) == size
        seen += [s["key"] for s in body["response"]]
    assert seen == keys

    beyond = world.client.get(world.stack_url(), params={"page": 4, "per_page": 20}).json()
    assert beyond["response"] == []
    assert beyond["pagination"]["next"] is None

    revealed_page = world.client.get(
        world.stack_url(), params={"page": 2, "per_page": 10, "reveal": "true"}
    ).json()["response"]
    assert [(s["key"], s["raw_value"]) for s in revealed_page] == [
        (k, f"v{k}") for k in keys[10:20]
    ]


def test_an_empty_list_has_one_page(world: World) -> None:
    body = world.client.get(world.account_url()).json()
    assert body == {
        "response": [],
        "count": 0,
        "pagination": {
            "previous": None,
            "next": None,
            "current": 1,
            "per_page": 30,
            "count": 0,
            "pages": 1,
        },
        "meta": {},
    }


def test_writes_are_the_core_state(world: World) -> None:
    """What the API wrote is what the core reads: same value, same version, same level."""
    world.client.put(world.stack_url("CORE"), json={"raw_value": "c1"})
    world.client.put(world.stack_url("CORE"), json={"raw_value": "c2"})
    secret = get_secret(world.installation, LOCAL, world.stack_target, "CORE", reveal=True)
    assert secret.raw_value is not None
    assert (secret.raw_value.reveal(), secret.version, secret.inherited) == ("c2", 2, False)
    with pytest.raises(NotFound):
        get_secret(world.installation, LOCAL, world.account_target, "CORE")
