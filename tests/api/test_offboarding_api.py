"""Offboarding over HTTP: `DELETE /users/{email or id}` and its roles, `DELETE /stacks/{uid}`
and `DELETE /accounts/{account}`: response shapes, a refusal's 409 with nothing changed, and
that what the server kept (a token's principal, a stack's opened values) is not used once the
user or the stack is gone (the KV hot read's twin: tests/api/vault/test_kv_offboarding.py)."""

from __future__ import annotations

from sqlalchemy import update

from stacksafe.core.audit_events import list_events
from stacksafe.core.principals import create_user
from stacksafe.store.schema import users
from tests.actors import LOCAL
from tests.api.helpers import World, assert_error, client_for, set_local, snapshot, user_with_token


def _owner_token(world: World) -> str:
    """A token of a second server owner (``init`` makes the first; the tests need one with a
    token of its own)."""
    owner = user_with_token(world.installation, "owner@acme.test", "acme", "viewer")
    with world.installation.store.write() as conn:
        conn.execute(update(users).where(users.c.email == "owner@acme.test").values(is_owner=True))
    return owner.token


def test_a_removed_users_token_is_refused_on_its_next_request_even_the_hot_read(
    world: World,
) -> None:
    set_local(world.installation, world.stack_target, {"A": "1"})
    dev = user_with_token(world.installation, "dev@acme.test", "acme", "developer")
    hot = f"{world.stack_url()}?reveal=true"
    with client_for(world.app, dev.token) as client:
        for _ in range(3):  # answered at hand (api/fast_path.py), the principal kept
            assert client.get(hot).status_code == 200
        with client_for(world.app, _owner_token(world)) as boss:
            with_id = boss.get("/api/3/users").json()["response"]
            dev_id = next(u["id"] for u in with_id if u["email"] == "dev@acme.test")
            removed = boss.delete(f"/api/3/users/{dev_id}")
        assert removed.status_code == 200, removed.text
        body = removed.json()["response"]
        assert body["email"] == "dev@acme.test"
        assert body["tokens_revoked"] == [dev.uid]
        assert body["accounts"] == [world.account.uid]
        assert_error(client.get(hot), 401)
        assert_error(client.get("/api/3/stacks"), 401)


def test_an_administrator_removes_memberships_not_users(world: World) -> None:
    create_user(world.installation, LOCAL, "dev@acme.test", "acme", "viewer", {"web": "developer"})
    before = snapshot(world.installation)
    refused = world.client.delete("/api/3/users/dev@acme.test")
    assert_error(refused, 403, "forbidden")
    assert snapshot(world.installation) == before
    stack = world.client.delete(f"/api/3/users/dev@acme.test/stacks/{world.stack.uid}")
    assert stack.status_code == 200, stack.text
    assert stack.json()["response"] == {
        "email": "dev@acme.test",
        "account_id": world.account.uid,
        "stack_uid": world.stack.uid,
        "role": "developer",
        "stack_roles": {},
    }
    account = world.client.delete("/api/3/users/dev@acme.test/accounts/acme")
    assert account.json()["response"]["role"] == "viewer"
    assert_error(world.client.delete("/api/3/users/dev@acme.test/accounts/acme"), 404)
    assert [e.action for e in list_events(world.installation, limit=2)] == [
        "membership.remove",
        "stack_role.remove",
    ]


def test_deleting_a_stack_holding_values_is_a_409_until_forced(world: World) -> None:
    set_local(world.installation, world.stack_target, {"A": "1", "B": "2"})
    before = snapshot(world.installation)
    refused = world.client.delete(f"/api/3/stacks/{world.stack.uid}")
    body = assert_error(refused, 409, "conflict")
    assert "holds values of 2 key(s) (A, B)" in body["error_description"]
    assert snapshot(world.installation) == before
    forced = world.client.delete(f"/api/3/stacks/{world.stack.uid}", params={"force": "true"})
    assert forced.status_code == 200, forced.text
    assert forced.json()["response"] == {
        "account_id": world.account.uid,
        "account_name": "acme",
        "stack_uid": world.stack.uid,
        "stack_name": "web",
        "stacks": [],
        "destroyed": {"A": [1], "B": [1]},
    }
    assert_error(world.client.get(f"/api/3/stacks/{world.stack.uid}"), 404)
    assert_error(world.client.get(f"{world.stack_url()}?reveal=true"), 404)


def test_a_nul_in_a_named_user_or_level_is_a_404_not_a_server_error(world: World) -> None:
    """PostgreSQL text cannot hold a NUL: such a name is looked up nowhere (tests/e2e's
    schemathesis run meets these with random path parameters)."""
    set_local(world.installation, world.stack_target, {"A": "1"})
    token = _owner_token(world)
    before = snapshot(world.installation)
    with client_for(world.app, token) as owner:
        for path in (
            "/api/3/users/a%00b@acme.test",
            "/api/3/users/a%00b@acme.test/accounts/acme",
            f"/api/3/users/a%00b@acme.test/stacks/{world.stack.uid}",
            "/api/3/users/admin@acme.test/stacks/%00",
            "/api/3/users/admin@acme.test/accounts/%00",
            "/api/3/stacks/%00?force=true",
            "/api/3/accounts/a%00?force=true",
        ):
            assert_error(owner.delete(path), 404)
        # Digits that are not ASCII's are no user id (int() of a superscript two raised; a
        # fullwidth 1 was user 1): names, and not an email.
        for path in ("/api/3/users/%C2%B2", "/api/3/users/%EF%BC%91"):
            assert_error(owner.delete(path), 400)
        assert_error(owner.delete(f"/api/3/users/%C2%B2/stacks/{world.stack.uid}"), 404)
    assert snapshot(world.installation) == before
