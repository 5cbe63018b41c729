"""Every refusal is one audit event (``outcome: denied``, the action attempted, the reason, no
credential or value): reading an audit log without the role for it, the whole log or its
verification without being the owner (with an admin-scoped token), creating an account without
being the owner. Each request adds exactly one event."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest
from httpx import Response

from stacksafe.core.audit_events import list_events
from stacksafe.core.tenancy import create_stack, list_accounts
from stacksafe.model import AuditEvent
from tests.actors import LOCAL
from tests.api.helpers import World, assert_error, client_for, user_with_token

# SQLite only (tests/conftest.py, DATABASES): that each refusal is one audit event is the face's
# doing; writing and listing the events is core's, on both databases in tests/core/test_audit*.py.
pytestmark = pytest.mark.databases("sqlite")


def _events(world: World) -> list[AuditEvent]:
    return list(list_events(world.installation, limit=1000))


def _one_refusal(
    world: World, email: str, token: str, request: Callable[[], Response], action: str
) -> AuditEvent:
    before = _events(world)
    assert_error(request(), 403, "forbidden")
    after = _events(world)  # newest first
    added = after[: len(after) - len(before)]
    assert len(added) == 1, [e.to_json() for e in added]
    event = added[0]
    assert (event.actor, event.action, event.outcome) == (email, action, "denied")
    assert event.detail["reason"]
    assert token not in str(event.to_json())
    return event


@pytest.mark.parametrize("role", ["viewer", "power_user"])
def test_reading_an_accounts_audit_log_without_the_role_is_recorded(
    world: World, role: str
) -> None:
    email = f"{role}@acme.test"
    token = user_with_token(world.installation, email, "acme", role).token
    client = client_for(world.app, token)
    event = _one_refusal(
        world,
        email,
        token,
        lambda: client.get(f"/api/3/accounts/{world.account.uid}/audit_logs"),
        "read_audit",
    )
    assert event.account_uid == world.account.uid
    _one_refusal(world, email, token, lambda: client.get("/api/3/audit_logs"), "read_audit")


def test_verifying_the_log_as_a_non_owner_is_recorded(world: World) -> None:
    client = client_for(world.app, world.admin_token.token)
    _one_refusal(
        world,
        world.admin_email,
        world.admin_token.token,
        lambda: client.get("/api/3/audit_logs/verify"),
        "audit.verify",
    )


def test_creating_an_account_as_a_non_owner_is_recorded(world: World) -> None:
    client = client_for(world.app, world.admin_token.token)
    event = _one_refusal(
        world,
        world.admin_email,
        world.admin_token.token,
        lambda: client.post("/api/3/accounts", json={"name": "other"}),
        "account.create",
    )
    assert event.detail["name"] == "other"
    assert [a.name for a in list_accounts(world.installation, LOCAL)] == ["acme"]


def test_a_narrowed_token_describing_a_stack_outside_it_is_recorded_without_its_name(
    world: World,
) -> None:
    """A token narrowed to stack ``dev`` asking for stack ``prod1`` of the same account: 403,
    one event, and the answer does not name ``prod1`` (the token may not describe it, and
    lists never show it)."""
    installation = world.installation
    dev = create_stack(installation, LOCAL, "acme", "dev", "development")
    prod = create_stack(installation, LOCAL, "acme", "prod1", "production")
    email = "narrow@acme.test"
    token = user_with_token(installation, email, "acme", "administrator", stacks=[dev.uid]).token
    client = client_for(world.app, token)
    before = _events(world)
    answer = client.get(f"/api/3/stacks/{prod.uid}")
    body = assert_error(answer, 403, "forbidden")
    assert "prod1" not in answer.text
    assert "this token is not valid for that stack" in body["error_description"]
    added = _events(world)[: len(_events(world)) - len(before)]
    assert len(added) == 1, [e.to_json() for e in added]
    event = added[0]
    assert (event.actor, event.action, event.outcome) == (email, "describe", "denied")
    assert event.stack_uid == prod.uid
    assert "prod1" not in str(event.detail)
    # The stack it is narrowed to, it may describe: no event.
    before = _events(world)
    assert client.get(f"/api/3/stacks/{dev.uid}").status_code == 200
    assert len(_events(world)) == len(before)


def test_an_environment_narrowed_token_describing_another_environment_is_recorded(
    world: World,
) -> None:
    email = "devenv@acme.test"
    token = user_with_token(
        world.installation, email, "acme", "administrator", environments=["development"]
    ).token
    client = client_for(world.app, token)
    event = _one_refusal(
        world, email, token, lambda: client.get(f"/api/3/stacks/{world.stack.uid}"), "describe"
    )
    assert event.stack_uid == world.stack.uid
    answer = client.get(f"/api/3/stacks/{world.stack.uid}")
    assert "'production' environment" in answer.json()["error_description"]
    assert world.stack.name not in answer.text


def test_a_narrowed_token_describing_its_account_is_recorded(world: World) -> None:
    dev = create_stack(world.installation, LOCAL, "acme", "dev", "development")
    email = "narrow@acme.test"
    token = user_with_token(
        world.installation, email, "acme", "administrator", stacks=[dev.uid]
    ).token
    client = client_for(world.app, token)
    for ref in (world.account.uid, "acme"):
        event = _one_refusal(
            world, email, token, partial(client.get, f"/api/3/accounts/{ref}"), "describe"
        )
        assert event.account_uid == world.account.uid
