"""Authentication, throttling and the audit trail over HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stacksafe.api import create_app
from stacksafe.api.app import BAD_TOKEN_LIMIT, DEFAULT_RATE_LIMIT
from stacksafe.core.audit_events import list_events
from stacksafe.core.principals import bootstrap_owner, create_token, revoke_token
from stacksafe.core.tenancy import Target, create_account, create_stack, find_account
from tests.actors import LOCAL
from tests.api.helpers import (
    World,
    assert_error,
    client_for,
    set_local,
    snapshot,
    user_with_token,
)


class SteppingClock:
    """A clock that moves one minute per reading: every audit event gets its own minute."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def stepping_world(world: World) -> Iterator[World]:
    original = world.installation.clock
    world.installation.clock = SteppingClock(datetime(2031, 1, 1, tzinfo=UTC))
    try:
        yield world
    finally:
        world.installation.clock = original


def _audit(world: World, **params: Any) -> list[dict[str, Any]]:
    response = world.client.get(f"/api/3/accounts/{world.account.uid}/audit_logs", params=params)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["response"]
    return events


# --- 401 -----------------------------------------------------------------------------------


def test_missing_malformed_unknown_revoked_and_expired_tokens_are_401(world: World) -> None:
    installation = world.installation
    set_local(installation, world.stack_target, {"K": "kept-value-1"})
    revoked = create_token(installation, LOCAL, world.admin_email, scopes=["public", "admin"])
    expiring = create_token(
        installation,
        LOCAL,
        world.admin_email,
        scopes=["public", "admin"],
        expires_in=timedelta(hours=1),
    )
    for token in (revoked, expiring):
        assert client_for(world.app, token.token).get(world.stack_url()).status_code == 200
    revoke_token(installation, LOCAL, revoked.uid)
    valid = world.admin_token.token
    kinds = {
        "no header": None,
        "empty bearer": "Bearer",
        "blank bearer": "Bearer    ",
        "basic": "Basic dXNlcjpwYXNz",
        "other scheme": f"Token {valid}",
        "no scheme": valid,
        "unknown": "Bearer ssk_" + "Q" * 43,
        "no prefix": "Bearer abcdef",
        "tampered": f"Bearer {valid[:-2]}xx",
        "revoked": f"Bearer {revoked.token}",
        "expired": f"Bearer {expiring.token}",
    }
    original_clock = installation.clock
    installation.clock = lambda: original_clock() + timedelta(hours=2)
    try:
        before = snapshot(installation)
        client = client_for(world.app, None)
        for kind, header in kinds.items():
            headers = {} if header is None else {"Authorization": header}
            response = client.put(
                world.stack_url("K"), json={"raw_value": "intruder-value"}, headers=headers
            )
            assert_error(response, 401, "unauthenticated")
            assert response.headers["www-authenticate"] == "Bearer", kind
            assert valid not in response.text
            assert "intruder-value" not in response.text
        assert snapshot(installation) == before
    finally:
        installation.clock = original_clock
    lower = client.get(world.stack_url(), headers={"Authorization": f"bearer {valid}"})
    assert lower.status_code == 200, lower.text
    assert client_for(world.app, expiring.token).get(world.stack_url()).status_code == 200
    assert_error(client_for(world.app, revoked.token).get(world.stack_url()), 401)


# --- Throttling ----------------------------------------------------------------------------


def test_repeated_bad_tokens_from_one_address_are_throttled(world: World) -> None:
    attacker = client_for(world.app, "ssk_not-a-real-token", address="192.0.2.10")
    for _ in range(BAD_TOKEN_LIMIT):
        assert_error(attacker.get(world.stack_url()), 401, "unauthenticated")
    body = assert_error(attacker.get(world.stack_url()), 429, "throttled")
    assert "invalid tokens" in body["error_description"]

    # A valid token from the same address is checked first, and answered.
    same_address = client_for(world.app, world.admin_token.token, address="192.0.2.10")
    assert same_address.get(world.stack_url()).status_code == 200
    elsewhere = client_for(world.app, world.admin_token.token, address="192.0.2.11")
    assert elsewhere.get(world.stack_url()).status_code == 200
    other_bad = client_for(world.app, "ssk_still-not-real", address="192.0.2.12")
    assert_error(other_bad.get(world.stack_url()), 401, "unauthenticated")


def test_per_token_rate_limit(world: World) -> None:
    app = create_app(world.installation, rate_limit=5)
    client = client_for(app, world.admin_token.token)
    for remaining in (4, 3, 2, 1, 0):
        response = client.get(world.stack_url())
        assert response.status_code == 200, response.text
        assert response.headers["x-ratelimit-limit"] == "5"
        assert response.headers["x-ratelimit-remaining"] == str(remaining)

    before = snapshot(world.installation)
    sixth = client.put(world.stack_url("LATE"), json={"raw_value": "too-late-value"})
    body = assert_error(sixth, 503, "throttled")
    assert body["error"] == "throttled"
    assert "rate limit of 5" in body["error_description"]
    assert "too-late-value" not in sixth.text
    assert snapshot(world.installation) == before
    assert_error(client.get(world.stack_url()), 503, "throttled")

    second = create_token(world.installation, LOCAL, world.admin_email, scopes=["public", "admin"])
    fresh = client_for(app, second.token).get(world.stack_url())
    assert fresh.status_code == 200
    assert fresh.headers["x-ratelimit-remaining"] == "4"

    default = world.client.get(world.stack_url())
    assert default.headers["x-ratelimit-limit"] == str(DEFAULT_RATE_LIMIT)
    assert default.headers["x-ratelimit-remaining"] == str(DEFAULT_RATE_LIMIT - 1)


# --- The audit trail of reveals ------------------------------------------------------------


def test_every_reveal_over_http_is_audited_with_who_where_and_request_id(world: World) -> None:
    installation = world.installation
    set_local(installation, world.account_target, {"SHARED": "shared-plain-1"})
    set_local(installation, world.stack_target, {"OWN": "own-plain-2"})
    client = client_for(world.app, world.admin_token.token, address="203.0.113.7")

    def newest() -> Any:
        return list_events(installation, limit=1)[0]

    single = client.get(
        world.stack_url("OWN"), params={"reveal": "true"}, headers={"Request-Id": "req-get-1"}
    )
    assert single.status_code == 200
    assert single.headers["request-id"] == "req-get-1"
    event = newest()
    assert (event.action, event.outcome) == ("reveal", "ok")
    assert event.actor == world.admin_email
    assert event.token_uid == world.admin_token.uid
    assert event.source_ip == "203.0.113.7"
    assert event.request_id == "req-get-1"
    assert (event.account_uid, event.stack_uid) == (world.account.uid, world.stack.uid)
    assert event.detail["keys"] == {"OWN": 1}
    assert event.detail["purpose"] == "get"
    assert set(event.detail["fingerprints"]) == {"OWN"}

    listed = client.get(
        world.stack_url(), params={"reveal": "true"}, headers={"Request-Id": "req-list-2"}
    )
    assert listed.headers["request-id"] == "req-list-2"
    event = newest()
    assert (event.action, event.request_id, event.token_uid) == (
        "reveal",
        "req-list-2",
        world.admin_token.uid,
    )
    assert event.detail["keys"] == {"OWN": 1, "SHARED": 1}
    assert event.detail["purpose"] == "list"

    account_level = client.get(
        world.account_url("SHARED"), params={"reveal": "true"}, headers={"Request-Id": "req-3"}
    )
    assert account_level.status_code == 200
    event = newest()
    assert (event.request_id, event.account_uid, event.stack_uid) == (
        "req-3",
        world.account.uid,
        None,
    )

    # A request id the server will not record as given is replaced, and the replacement is
    # both returned and recorded.
    odd = client.get(
        world.stack_url("OWN"), params={"reveal": "true"}, headers={"Request-Id": "not valid!"}
    )
    generated = odd.headers["request-id"]
    assert generated != "not valid!"
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert newest().request_id == generated
    assert re.fullmatch(r"[0-9a-f]{32}", client.get(world.stack_url()).headers["request-id"])

    seq = newest().seq
    assert client.get(world.stack_url("OWN")).status_code == 200
    assert client.get(world.stack_url(), params={"reveal": "false"}).status_code == 200
    assert newest().seq == seq  # describing is not revealing

    over_http = _audit(world, key="OWN")
    assert [e["request_id"] for e in over_http if e["action"] == "reveal"][:3] == [
        generated,
        "req-list-2",
        "req-get-1",
    ]
    for shown in over_http:
        assert set(shown) >= {"actor", "token_id", "source_ip", "request_id", "action"}
    whole_log = str([e.to_json() for e in list_events(installation, limit=1000)])
    assert "own-plain-2" not in whole_log
    assert "shared-plain-1" not in whole_log


def test_a_denied_reveal_is_audited_too(world: World) -> None:
    viewer = user_with_token(world.installation, "viewer@acme.test", "acme", "viewer")
    client = client_for(world.app, viewer.token, address="203.0.113.8")
    set_local(world.installation, world.stack_target, {"OWN": "own-plain-3"})
    response = client.get(
        world.stack_url("OWN"), params={"reveal": "true"}, headers={"Request-Id": "req-denied"}
    )
    assert_error(response, 403, "forbidden")
    assert "own-plain-3" not in response.text
    event = list_events(world.installation, limit=1)[0]
    assert (event.action, event.outcome) == ("reveal", "denied")
    assert (event.actor, event.token_uid) == ("viewer@acme.test", viewer.uid)
    assert (event.source_ip, event.request_id) == ("203.0.113.8", "req-denied")


def test_error_responses_return_the_request_id_they_were_audited_under(world: World) -> None:
    viewer = user_with_token(world.installation, "viewer@acme.test", "acme", "viewer")
    client = client_for(world.app, viewer.token)
    response = client.get(world.stack_url(), params={"reveal": "true"})
    assert_error(response, 403, "forbidden")
    recorded = list_events(world.installation, limit=1)[0].request_id
    assert response.headers.get("request-id") == recorded


# --- Audit log endpoints -------------------------------------------------------------------


def test_account_audit_logs_need_an_administrator_with_the_admin_scope(world: World) -> None:
    installation = world.installation
    create_account(installation, LOCAL, "globex")
    path = f"/api/3/accounts/{world.account.uid}/audit_logs"
    expected = {
        ("viewer@acme.test", "viewer", ("public", "admin")): 403,
        ("developer@acme.test", "developer", ("public", "admin")): 403,
        ("power@acme.test", "power_user", ("public", "admin")): 403,
        ("adminpub@acme.test", "administrator", ("public",)): 403,
        ("owner@acme.test", "owner", ("public", "admin")): 200,
        ("admin2@acme.test", "administrator", ("admin",)): 200,
    }
    for (email, role, scopes), status in expected.items():
        token = user_with_token(installation, email, "acme", role, scopes=scopes)
        response = client_for(world.app, token.token).get(path)
        if status == 200:
            assert response.status_code == 200, (email, response.text)
            assert response.json()["count"] > 0
        else:
            body = assert_error(response, 403, "forbidden")
            assert "audit" in body["error_description"], email
    assert world.client.get(path).status_code == 200

    outsider = user_with_token(installation, "admin@globex.test", "globex", "administrator")
    hidden = client_for(world.app, outsider.token).get(path)
    missing = client_for(world.app, outsider.token).get("/api/3/accounts/nope/audit_logs")
    assert_error(hidden, 404, "not_found")
    assert_error(missing, 404, "not_found")
    assert hidden.json()["error_description"].replace(world.account.uid, "X") == missing.json()[
        "error_description"
    ].replace("nope", "X")


def test_account_audit_log_filters(stepping_world: World) -> None:
    world = stepping_world
    installation = world.installation
    developer = user_with_token(installation, "dev@acme.test", "acme", "developer")
    dev_client = client_for(world.app, developer.token)
    create_account(installation, LOCAL, "globex")
    shop = create_stack(installation, LOCAL, "globex", "shop", "production")

    assert world.client.put(world.stack_url("ALPHA"), json={"raw_value": "a1"}).status_code == 200
    assert dev_client.put(world.stack_url("BETA"), json={"raw_value": "b1"}).status_code == 200
    assert world.client.get(world.stack_url("ALPHA"), params={"reveal": "true"}).is_success
    assert dev_client.put(world.stack_url("ALPHA"), json={"raw_value": "a2"}).status_code == 200
    set_local(
        installation, Target(find_account(installation, "globex"), shop), {"ALPHA": "elsewhere"}
    )

    everything = _audit(world, per_page=1000)
    seqs = [e["seq"] for e in everything]
    assert seqs == sorted(seqs, reverse=True)
    assert {e["account_uid"] for e in everything} == {world.account.uid}

    by_admin = _audit(world, actor=world.admin_email)
    assert by_admin
    assert {e["actor"] for e in by_admin} == {world.admin_email}
    assert [e["action"] for e in by_admin[:2]] == ["reveal", "secret.set"]
    by_dev = _audit(world, actor="dev@acme.test")
    assert [e["action"] for e in by_dev] == ["secret.set", "secret.set"]
    assert _audit(world, actor="nobody@acme.test") == []

    alpha = _audit(world, key="ALPHA")
    assert [(e["actor"], e["action"]) for e in alpha] == [
        ("dev@acme.test", "secret.set"),
        (world.admin_email, "reveal"),
        (world.admin_email, "secret.set"),
    ]
    assert all("ALPHA" in e["detail"]["keys"] for e in alpha)
    beta = _audit(world, key="BETA")
    assert [(e["actor"], e["action"]) for e in beta] == [("dev@acme.test", "secret.set")]

    reveal_at = alpha[1]["at_iso"]
    since = _audit(world, since=reveal_at)
    assert [e["seq"] for e in since] == [
        e["seq"] for e in everything if e["seq"] >= alpha[1]["seq"]
    ]
    assert [e["action"] for e in since] == ["secret.set", "reveal"]
    assert _audit(world, since="2099-01-01T00:00:00Z") == []
    combined = _audit(world, since=reveal_at, actor="dev@acme.test", key="ALPHA")
    assert [e["seq"] for e in combined] == [alpha[0]["seq"]]

    first = world.client.get(
        f"/api/3/accounts/{world.account.uid}/audit_logs", params={"per_page": 2}
    ).json()
    assert [e["seq"] for e in first["response"]] == seqs[:2]
    assert first["pagination"]["next"] == 2
    second = world.client.get(
        f"/api/3/accounts/{world.account.uid}/audit_logs", params={"per_page": 2, "page": 2}
    ).json()
    assert [e["seq"] for e in second["response"]] == seqs[2:4]
    assert second["pagination"]["previous"] == 1


def test_the_key_filter_matches_the_key_exactly(world: World) -> None:
    """``_`` and ``%`` in a key are not wildcards: DB_URL is not DB-URL nor DB.URL."""
    for key in ("DB_URL", "DB-URL", "DB.URL", "DBxURL"):
        assert world.client.put(world.stack_url(key), json={"raw_value": "v"}).status_code == 200
    found = _audit(world, key="DB_URL")
    assert [list(e["detail"]["keys"]) for e in found] == [["DB_URL"]]
    assert len(_audit(world, key="DB-URL")) == 1


def test_the_whole_audit_log_is_for_the_server_owner_only(world: World) -> None:
    installation = world.installation
    create_account(installation, LOCAL, "globex")
    create_stack(installation, LOCAL, "globex", "shop", "production")
    bootstrap_owner(installation, "root@server.test")
    owner_admin = create_token(installation, LOCAL, "root@server.test", scopes=["public", "admin"])
    owner_public = create_token(installation, LOCAL, "root@server.test", scopes=["public"])
    account_owner = user_with_token(installation, "owner@acme.test", "acme", "owner")

    response = client_for(world.app, owner_admin.token).get(
        "/api/3/audit_logs", params={"per_page": 1000}
    )
    assert response.status_code == 200, response.text
    accounts = {e["account_uid"] for e in response.json()["response"]}
    assert world.account.uid in accounts
    assert len(accounts - {None, world.account.uid}) == 1  # globex's events too

    for token in (owner_public, account_owner, world.admin_token):
        body = assert_error(client_for(world.app, token.token).get("/api/3/audit_logs"), 403)
        assert body["error"] == "forbidden"
        assert "owner" in body["error_description"]
