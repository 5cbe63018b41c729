"""No API answer may be kept by a cache (issue 17, item 7): revealed values, a token shown once,
and errors alike carry ``Cache-Control: no-store``, through the routes and api/fast_path.py."""

from __future__ import annotations

import pytest

from stacksafe.api.app import create_app
from stacksafe.core import tenancy
from tests.api.helpers import World, client_for, set_local

# SQLite only (tests/conftest.py, DATABASES): cache-Control on every kind of answer: HTTP shapes,
# the same on either database.
pytestmark = pytest.mark.databases("sqlite")


def test_every_api_answer_says_no_store(world: World) -> None:
    set_local(world.installation, world.stack_target, {"SECRET": "revealed-value"})
    token = world.admin_token.token
    answers = {}
    for fast_path in (True, False):
        with client_for(create_app(world.installation, fast_path=fast_path), token) as client:
            # The second reveal is a warm one: the fast path answers it on the event loop.
            for n, query in enumerate(("?reveal=true", "?reveal=true", "?reveal=false")):
                answers[f"list{query} #{n} fast_path={fast_path}"] = client.get(
                    world.stack_url() + query
                )
    client = world.client
    answers["get"] = client.get(world.stack_url("SECRET") + "?reveal=true")
    answers["versions"] = client.get(world.stack_url("SECRET") + "/versions")
    answers["account list"] = client.get(world.account_url() + "?reveal=true")
    answers["token created"] = client.post(
        "/api/3/tokens", json={"user": world.admin_email, "scopes": ["public"]}
    )
    answers["not found"] = client.get("/api/3/stacks/no-such-stack/secrets?reveal=true")
    answers["invalid"] = client.get(world.stack_url() + "?per_page=0")
    with client_for(world.app, None) as anonymous:
        answers["unauthenticated"] = anonymous.get(world.stack_url() + "?reveal=true")
    assert "revealed-value" in answers["list?reveal=true #1 fast_path=True"].text
    assert answers["token created"].status_code == 201
    said = {name: answer.headers.get("cache-control") for name, answer in answers.items()}
    assert said == dict.fromkeys(answers, "no-store")


def test_an_unexpected_failure_in_a_route_is_a_500_with_no_store_and_its_request_id(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Starlette answers an exception nothing handled outside every middleware: the 500 must
    still say no-store and carry the request's id, which the log line names for the operator."""

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("account-secret")  # a message that must not reach the client

    monkeypatch.setattr(tenancy, "list_accounts", broken)  # as the route finds it
    answer = world.client.get("/api/3/accounts", headers={"Request-Id": "boom-2"})
    assert answer.status_code == 500
    assert answer.json()["error"] == "internal_error"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["request-id"] == "boom-2"
    assert "account-secret" not in answer.text
    assert "account-secret" not in caplog.text
    assert "unexpected RuntimeError on GET /api/3/accounts (request boom-2)" in caplog.text
