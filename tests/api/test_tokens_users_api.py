"""`/users` and `/tokens` over HTTP: creation, narrowing, revocation, and what is never shown."""

from __future__ import annotations

from sqlalchemy import select

from stacksafe.core.audit_events import list_events
from stacksafe.core.principals import TOKEN_PREFIX, authenticate, create_token
from stacksafe.store.schema import audit_details, audit_events, tokens
from tests.actors import LOCAL
from tests.api.helpers import World, assert_error, client_for, snapshot, user_with_token


def _all_text(world: World) -> str:
    """Every token-table and audit-log cell, as text: a token's value must be in none of them."""
    with world.installation.store.read() as conn:
        rows = [
            *conn.execute(select(tokens)),
            *conn.execute(select(audit_events)),
            *conn.execute(select(audit_details)),
        ]
    return "\n".join(repr(tuple(row)) for row in rows)


def test_a_created_token_is_shown_once_works_and_is_stored_as_a_hash(world: World) -> None:
    response = world.client.post(
        "/api/3/tokens",
        json={"user": world.admin_email, "scopes": ["public"], "expires_in": "2h"},
    )

    assert response.status_code == 201, response.text
    created = response.json()["response"]
    token = created["token"]
    assert token.startswith(TOKEN_PREFIX)
    assert created["user"] == world.admin_email
    assert created["scopes"] == ["public"]
    assert created["expires_at_iso"] is not None
    assert created["revoked_at_iso"] is None
    assert client_for(world.app, token).get(world.stack_url()).status_code == 200
    listed = world.client.get("/api/3/tokens")
    assert created["id"] in {t["id"] for t in listed.json()["response"]}
    assert token not in listed.text
    assert TOKEN_PREFIX not in listed.text
    assert token not in _all_text(world)
    event = list_events(world.installation, limit=1)[0]
    assert (event.action, event.detail["token"]) == ("token.create", created["id"])


def test_a_public_token_made_over_http_cannot_write(world: World) -> None:
    made = world.client.post(
        "/api/3/tokens", json={"user": world.admin_email, "scopes": ["public"]}
    )
    reader = client_for(world.app, made.json()["response"]["token"])

    refused = reader.put(world.stack_url("K"), json={"raw_value": "v"})

    assert_error(refused, 403, "forbidden")


def test_a_token_cannot_mint_a_wider_token(world: World) -> None:
    narrow = create_token(
        world.installation,
        LOCAL,
        world.admin_email,
        scopes=["public", "admin"],
        environments=["staging"],
    )
    client = client_for(world.app, narrow.token)
    before = snapshot(world.installation)

    wider = client.post("/api/3/tokens", json={"user": world.admin_email, "scopes": ["admin"]})

    assert_error(wider, 403, "forbidden")
    assert "environments" in wider.json()["error_description"]
    assert snapshot(world.installation) == before
    event = list_events(world.installation, limit=1)[0]
    assert (event.action, event.outcome) == ("token.create", "denied")


def test_tokens_for_another_user_answer_the_same_whether_or_not_the_user_exists(
    world: World,
) -> None:
    user_with_token(world.installation, "bob@acme.test", "acme", "viewer")

    existing = world.client.post(
        "/api/3/tokens", json={"user": "bob@acme.test", "scopes": ["public"]}
    )
    missing = world.client.post(
        "/api/3/tokens", json={"user": "nobody@acme.test", "scopes": ["public"]}
    )

    assert_error(existing, 403, "forbidden")
    assert_error(missing, 403, "forbidden")
    assert existing.json()["error_description"] == missing.json()["error_description"]


def test_revoking_over_http_stops_the_token_at_once(world: World) -> None:
    spare = create_token(world.installation, LOCAL, world.admin_email, scopes=["public"])
    spare_client = client_for(world.app, spare.token)
    assert spare_client.get(world.stack_url()).status_code == 200

    response = world.client.delete(f"/api/3/tokens/{spare.uid}")

    assert response.status_code == 200, response.text
    assert response.json()["response"]["revoked_at_iso"] is not None
    assert_error(spare_client.get(world.stack_url()), 401, "unauthenticated")
    again = world.client.delete(f"/api/3/tokens/{spare.uid}")
    assert_error(again, 409, "conflict")


def test_revoking_by_a_token_value_by_mistake_never_echoes_it(world: World) -> None:
    spare = create_token(world.installation, LOCAL, world.admin_email, scopes=["public"])
    before = snapshot(world.installation)

    response = world.client.delete(f"/api/3/tokens/{spare.token}")

    assert_error(response, 400, "bad_request")
    assert spare.token not in response.text
    assert spare.token not in _all_text(world)
    assert snapshot(world.installation) == before
    assert authenticate(world.installation, spare.token).token_uid == spare.uid


def test_bad_token_requests_are_400_and_change_nothing(world: World) -> None:
    before = snapshot(world.installation)
    bodies = [
        {"user": world.admin_email, "scopes": []},
        {"user": world.admin_email, "scopes": ["root"]},
        {"user": world.admin_email, "scopes": ["public"], "expires_in": "forever"},
        {"user": world.admin_email, "scopes": ["public"], "expires_in": "0d"},
        {"user": world.admin_email, "scopes": ["public"], "expires_in": "99999999999d"},
        {"user": world.admin_email, "scopes": ["public"], "token": "ssk_chosen"},
        {"user": world.admin_email, "scopes": "public"},
        {"scopes": ["public"]},
    ]
    for body in bodies:
        response = world.client.post("/api/3/tokens", json=body)
        assert_error(response, 400)
    assert snapshot(world.installation) == before


def test_an_administrator_adds_a_user_with_stack_roles(world: World) -> None:
    response = world.client.post(
        "/api/3/users",
        json={
            "email": "carol@acme.test",
            "account_id": "acme",
            "role": "viewer",
            "stack_roles": {"web": "developer"},
        },
    )

    assert response.status_code == 201, response.text
    user = response.json()["response"]
    assert user["email"] == "carol@acme.test"
    assert user["accounts"] == [{"id": world.account.uid, "name": "acme", "role": "viewer"}]
    assert user["access_profile"] == {
        "stack_profiles": [{"stack_uid": world.stack.uid, "role": "developer"}]
    }
    event = list_events(world.installation, limit=1)[0]
    assert (event.action, event.detail["user"]) == ("user.grant", "carol@acme.test")


def test_bad_user_requests_are_400_and_change_nothing(world: World) -> None:
    before = snapshot(world.installation)
    bodies = [
        {"email": "not-an-email", "account_id": "acme"},
        {"email": "dave@acme.test", "account_id": "acme", "role": "emperor"},
        {"email": "dave@acme.test", "account_id": "acme", "stack_roles": {"web": "king"}},
        {"email": "dave@acme.test", "account_id": "acme", "is_owner": True},
        {"email": "dave@acme.test"},
    ]
    for body in bodies:
        assert_error(world.client.post("/api/3/users", json=body), 400)
    missing_stack = world.client.post(
        "/api/3/users",
        json={"email": "dave@acme.test", "account_id": "acme", "stack_roles": {"nope": "viewer"}},
    )
    assert_error(missing_stack, 404, "not_found")
    assert snapshot(world.installation) == before


def test_a_token_that_expires_cannot_mint_one_that_outlives_it(world: World) -> None:
    from datetime import timedelta

    hourly = create_token(
        world.installation,
        LOCAL,
        world.admin_email,
        scopes=["public", "admin"],
        expires_in=timedelta(hours=1),
    )
    client = client_for(world.app, hourly.token)

    forever = client.post("/api/3/tokens", json={"user": world.admin_email, "scopes": ["public"]})
    longer = client.post(
        "/api/3/tokens",
        json={"user": world.admin_email, "scopes": ["public"], "expires_in": "2h"},
    )
    shorter = client.post(
        "/api/3/tokens",
        json={"user": world.admin_email, "scopes": ["public"], "expires_in": "30m"},
    )

    assert_error(forever, 403, "forbidden")
    assert_error(longer, 403, "forbidden")
    assert shorter.status_code == 201, shorter.text


def test_an_absurdly_long_lifetime_is_a_400_not_a_crash(world: World) -> None:
    body = {"user": world.admin_email, "scopes": ["public"], "expires_in": "999999w"}
    assert_error(world.client.post("/api/3/tokens", json=body), 400, "bad_request")
