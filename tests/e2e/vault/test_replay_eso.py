"""External Secrets Operator's exact requests, replayed (issue 18; fixtures in replays/eso_*.json).

Each fixture is one flow of ESO's vault provider (SecretStore validation and reads, ``find`` by
name and by tags, PushSecret and DeleteSecret), written from its Go source (every step names
the file and line) with the headers and body encoding of the Go API client ESO uses, and
recorded against a real OpenBao (replays/record.py). The same bytes go to OpenBao and to
stacksafe's ``/v1``; every answer must satisfy what OpenBao answered (status, exact
``Content-Type``, envelope) and what ESO reads from it (the fixture's ``expect`` rules).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.e2e.vault.conftest import KvServer
from tests.e2e.vault.replays.harness import expiring_token, replay_problems, target
from tests.e2e.vault.replays.replay import (
    Exchange,
    build,
    fill,
    load,
    problems,
    replay,
    with_headers,
)

ESO_FIXTURES = ["eso_get_secret.json", "eso_find.json", "eso_push_secret.json"]


@pytest.fixture(params=["openbao", "stacksafe"])
def kv_server(request: pytest.FixtureRequest, openbao: KvServer) -> KvServer:
    """OpenBao (the fixtures must hold there: they were recorded on it) and stacksafe."""
    if request.param == "openbao":
        return openbao
    server: KvServer = request.getfixturevalue("stacksafe_kv")
    return server


@pytest.mark.parametrize("name", ESO_FIXTURES)
def test_eso_flow_is_answered_as_openbao_answers_it(kv_server: KvServer, name: str) -> None:
    found = replay_problems(kv_server, name)
    assert not found, "\n".join(found)


def _rfc3339(text: str) -> datetime:
    """Go's time.RFC3339 layout (any fraction, Z or an offset) as an aware datetime."""
    match = re.fullmatch(r"(.{19})(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    assert match is not None, f"not RFC 3339: {text!r}"
    zone = "+00:00" if match[3] == "Z" else match[3]
    return datetime.fromisoformat(match[1] + (match[2] or "")[:7] + zone)


def test_eso_reads_with_an_expiring_token(
    request: pytest.FixtureRequest, kv_server: KvServer
) -> None:
    """lookup-self with an expiry: ESO parses ttl as json.Number.Int64 and expire_time as RFC 3339.

    The servers' own tokens never expire (ttl 0, expire_time null): this is the other branch of
    checkToken (providers/v1/vault/auth.go:201-222).
    """
    token = expiring_token(request, kv_server)
    found = replay_problems(kv_server, "eso_get_secret.json", token)
    assert not found, "\n".join(found)
    fixture = load("eso_get_secret.json")
    lookup = {
        **fixture,
        "steps": [s for s in fixture["steps"] if s["id"] == "validate-lookup-self"],
    }
    (answer,) = replay(lookup, target(kv_server, token), "kvdiff/unused")
    data = answer.body["data"]
    # ttl < 60 with an expiry is "expired" to ESO (auth.go:201-206): a 1-day token is far from it.
    assert 23 * 3600 < data["ttl"] <= 24 * 3600
    left = datetime.fromisoformat(data["expire_time"][:26].rstrip("Z") + "+00:00") - datetime.now(
        UTC
    )
    assert abs(left.total_seconds() - data["ttl"]) < 120


def test_the_fixtures_cover_every_flow_the_issue_names() -> None:
    """lookup-self, data reads with ?version=, the metadata LIST recursion, PushSecret's writes."""
    requests = [
        (step["request"]["method"], step["request"]["path"], step["request"].get("query", []))
        for name in ESO_FIXTURES
        for step in load(name)["steps"]
        if step["who"] == "eso"
    ]
    assert ("GET", "/v1/auth/token/lookup-self", []) in requests
    assert ("GET", "/v1/{mount}/data/{path}", [["version", "1"]]) in requests
    assert ("GET", "/v1/{mount}/metadata/{path}/team", [["list", "true"]]) in requests
    pushes = [
        step["request"]
        for step in load("eso_push_secret.json")["steps"]
        if step["request"]["method"] == "PUT"
    ]
    labels = [r for r in pushes if r["path"].startswith("/v1/{mount}/metadata/")]
    assert labels
    assert all(r["json"] == {"custom_metadata": {"managed-by": "external-secrets"}} for r in labels)
    assert any(r.get("json", {}).get("options") == {"cas": 3} for r in pushes)
    # Go's client sends no Content-Type on a PUT; the replay must not add one either.
    headers = load("eso_push_secret.json")["headers"]
    assert "Content-Type" not in headers
    assert headers["X-Vault-Request"] == "true"
    for name in ESO_FIXTURES:
        assert all("recorded" in step for step in load(name)["steps"]), f"{name}: not recorded"


def test_the_judge_refuses_an_answer_eso_could_not_use() -> None:
    """The checks can fail: a float ttl, a missing expire_time, a wrong Content-Type."""
    step = next(
        s for s in load("eso_get_secret.json")["steps"] if s["id"] == "validate-lookup-self"
    )
    lookup: dict[str, Any] = {"type": "service", "ttl": 3600, "expire_time": "2030-01-02T03:04:05Z"}
    good: dict[str, Any] = {
        "request_id": "r",
        "lease_id": "",
        "renewable": False,
        "lease_duration": 0,
        "data": lookup,
        "wrap_info": None,
        "warnings": None,
        "auth": None,
    }
    assert problems(Exchange(step, 200, "application/json", good, "{}")) == []
    float_ttl = {**good, "data": {**lookup, "ttl": 3600.0}}
    no_expiry_key = {**good, "data": {"type": "service", "ttl": 0}}
    bad_expiry = {**good, "data": {**lookup, "expire_time": "2030-01-02 03:04:05"}}
    batch = {**good, "data": {**lookup, "type": "batch"}}
    for body in (float_ttl, no_expiry_key, bad_expiry, batch):
        assert problems(Exchange(step, 200, "application/json", body, "{}")) != []
    assert problems(Exchange(step, 200, "application/json; charset=utf-8", good, "{}")) != []
    assert problems(Exchange(step, 401, "application/json", {"errors": []}, "{}")) != []


def test_a_replayed_put_carries_the_go_clients_headers_and_no_content_type() -> None:
    """What goes on the wire: Go's json.Marshal body, no Content-Type, no Accept, no Connection."""
    fixture = load("eso_push_secret.json")
    step = next(s for s in fixture["steps"] if s["id"] == "new-write-metadata")
    filled = fill(
        with_headers(fixture, step), {"path": "kvdiff/p", "mount": "secret", "token": "t"}
    )
    with httpx.Client(base_url="http://127.0.0.1:9") as client:
        request = build(client, filled)
    assert request.method == "PUT"
    assert request.url.path == "/v1/secret/metadata/kvdiff/p"
    assert request.content == b'{"custom_metadata":{"managed-by":"external-secrets"}}'
    assert sorted(request.headers.keys()) == [
        "accept-encoding",
        "content-length",
        "host",
        "user-agent",
        "x-vault-request",
        "x-vault-token",
    ]
    assert request.headers["user-agent"] == "Go-http-client/1.1"
    listing = next(s for s in load("eso_find.json")["steps"] if s["id"] == "by-name-list-team")
    filled = fill(with_headers(load("eso_find.json"), listing), {"path": "kvdiff/f", "mount": "m"})
    with httpx.Client(base_url="http://127.0.0.1:9") as client:
        request = build(client, filled)
    # GET with ?list=true, and no trailing slash (the Go client's path.Join drops it).
    assert (request.method, str(request.url)) == (
        "GET",
        "http://127.0.0.1:9/v1/m/metadata/kvdiff/f/team?list=true",
    )
