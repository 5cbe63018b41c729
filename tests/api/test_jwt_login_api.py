"""``POST /api/3/auth/jwt/login`` (api.routes.auth): no token needed; a valid JWT gets a token
narrowed as its role says, a refused one 401 with the check that failed and nothing issued,
and refusals from one address are throttled like bad tokens."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from stacksafe.core.audit_events import list_events
from stacksafe.core.principals import list_tokens
from tests.actors import LOCAL
from tests.api.helpers import World, assert_error
from tests.api.workload_site import workload_site
from tests.jwt_issuer import github_claims

pytestmark = pytest.mark.databases("sqlite")  # the API's part; core/workload runs on both


def test_a_login_gives_a_narrowed_token_that_reads_its_stack_only(world: World) -> None:
    with workload_site(world) as (issuer, api_uid), TestClient(world.app) as anonymous:
        response = anonymous.post(
            "/api/3/auth/jwt/login",
            json={"role": "deploy", "jwt": issuer.sign(github_claims(issuer.url))},
        )
        assert response.status_code == 200, response.text
        body = response.json()["response"]
        assert body["role"] == "deploy"
        assert body["account_id"] == world.account.uid
        assert body["stacks"] == [world.stack.uid]
        assert body["ttl_seconds"] == 900
        assert body["id"].startswith("tok_")
        token = body["token"]
        headers = {"Authorization": f"Bearer {token}"}
        web = anonymous.get(world.stack_url() + "?reveal=true", headers=headers)
        assert web.status_code == 200, web.text
        assert {s["key"]: s["raw_value"] for s in web.json()["response"]} == {"WEB_KEY": "web-v"}
        other = anonymous.get(f"/api/3/stacks/{api_uid}/secrets?reveal=true", headers=headers)
        assert other.status_code in (403, 404)
        assert "api-v" not in other.text


def test_a_refused_login_is_401_naming_the_check_and_issues_nothing(world: World) -> None:
    with workload_site(world) as (issuer, _), TestClient(world.app) as anonymous:
        before = len(list_tokens(world.installation, LOCAL))
        wrong = issuer.sign(github_claims(issuer.url, audience="elsewhere"))
        response = anonymous.post("/api/3/auth/jwt/login", json={"role": "deploy", "jwt": wrong})
        body = assert_error(response, 401, "unauthenticated")
        assert body["error_description"] == "login refused (audience)"
        assert wrong not in response.text
        assert len(list_tokens(world.installation, LOCAL)) == before


def test_bad_input_is_a_clear_400(world: World) -> None:
    with TestClient(world.app) as anonymous:
        for body in ({"role": "deploy"}, {"jwt": "x"}, {"role": "", "jwt": "x"}, [1]):
            response = anonymous.post("/api/3/auth/jwt/login", json=body)
            assert response.status_code in (400, 422), response.text


def test_refused_logins_from_one_address_are_throttled(world: World) -> None:
    with workload_site(world) as (issuer, _), TestClient(world.app) as anonymous:
        bad = issuer.sign(github_claims(issuer.url, repository="someone/else"))
        statuses = [
            anonymous.post("/api/3/auth/jwt/login", json={"role": "deploy", "jwt": bad}).status_code
            for _ in range(40)
        ]
        assert statuses[0] == 401
        assert 429 in statuses
        # Once throttled, even a valid JWT from that address waits: logins cost a signature
        # check and an audit event, so the address is refused before either.
        good = issuer.sign(github_claims(issuer.url))
        response = anonymous.post("/api/3/auth/jwt/login", json={"role": "deploy", "jwt": good})
        assert response.status_code == 429
        assert response.headers["retry-after"].isdigit()


@pytest.mark.databases("sqlite", "postgresql")
def test_bad_input_through_both_faces_is_never_a_server_error(world: World) -> None:
    """A NUL, a lone surrogate, a non-string, megabytes: each refused (4xx), nothing issued,
    and the audit log holds none of it, on both databases."""
    with workload_site(world) as (issuer, _), TestClient(world.app) as anonymous:
        signed = issuer.sign(github_claims(issuer.url))
        bodies: list[object] = [
            {"role": "dep\x00loy", "jwt": signed},
            {"role": "deploy\ud800", "jwt": signed},
            {"role": "deploy", "jwt": "eyJ\x00.x.y"},
            {"role": "deploy", "jwt": "\ud800.\ud800.\ud800"},
            {"role": 7, "jwt": signed},
            {"role": "deploy", "jwt": ["a"]},
            {"role": "deploy", "jwt": "a" * 100_000},
            {"role": "x" * 1000, "jwt": signed},
        ]
        before = len(list_tokens(world.installation, LOCAL))
        for body in bodies:
            for url in ("/api/3/auth/jwt/login", "/v1/auth/jwt/login", "/v1/auth/kubernetes/login"):
                response = anonymous.post(
                    url,
                    content=json.dumps(body),
                    headers={"Content-Type": "application/json", "X-Forwarded-For": "x"},
                )
                assert 400 <= response.status_code < 500, (url, body, response.text)
        assert len(list_tokens(world.installation, LOCAL)) == before
        events = list_events(world.installation, limit=1000)
        assert all("\x00" not in json.dumps(e.to_json()) for e in events)
