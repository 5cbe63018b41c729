"""Hostile and malformed requests: each is a 4xx with the error envelope, never a 500, changes
nothing (a revealed snapshot is equal before and after) and echoes no submitted value.

The cases share one SQLite installation per module; the few that reach database-specific code
paths run on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stacksafe.api.app import MAX_BODY_BYTES
from stacksafe.core.installation import initialise
from stacksafe.settings import Settings
from tests.api.helpers import (
    World,
    assert_error,
    assert_raw_error,
    build_world,
    client_for,
    raw_request,
    set_local,
    snapshot,
)

SENTINEL = "SENTINEL-5ecret-v4lue"
SEEDED_ACCOUNT = {"SHARED": "seeded-account-value-41"}
SEEDED_STACK = {"OWN": "seeded-stack-value-42", "OTHER": "seeded-stack-value-43"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def bad_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("bad-input")
    installation, _ = initialise(Settings.load({}, data_dir=data_dir))
    try:
        world = build_world(installation)
        set_local(installation, world.account_target, SEEDED_ACCOUNT)
        set_local(installation, world.stack_target, SEEDED_STACK)
        with world.client:
            yield world
    finally:
        installation.close()


@dataclass(frozen=True)
class Case:
    """One request; ``{stack}`` and ``{account}`` in ``path`` are the world's uids."""

    name: str
    method: str
    path: str
    status: int
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    code: str | None = None


STACK = "/api/3/stacks/{stack}/secrets"
ACCOUNT = "/api/3/accounts/{account}/secrets"
LEVELS = {"stack": STACK, "account": ACCOUNT}


def _body_cases() -> list[Case]:
    cases: list[Case] = []
    for level, base in LEVELS.items():

        def add(name: str, method: str, path: str, prefix: str = level, **kw: Any) -> None:
            cases.append(Case(f"{prefix}-{name}", method, path, 400, code="bad_request", **kw))

        one = f"{base}/OWN"
        # Malformed JSON.
        add(
            "post-truncated",
            "POST",
            base,
            content=f'{{"key":"K","raw_value":"{SENTINEL}'.encode(),
            headers=JSON,
        )
        add(
            "post-trailing-garbage",
            "POST",
            base,
            headers=JSON,
            content=f'{{"key":"K","raw_value":"x"}} {SENTINEL}'.encode(),
        )
        add("put-not-json", "PUT", one, content=f"raw_value={SENTINEL}".encode(), headers=JSON)
        add(
            "import-truncated",
            "PUT",
            base,
            headers=JSON,
            content=f'{{"secrets": {{"A": "{SENTINEL}"'.encode(),
        )
        add("post-empty-body", "POST", base, content=b"", headers=JSON)
        add(
            "post-form-encoded",
            "POST",
            base,
            content=f"key=K&raw_value={SENTINEL}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        add(
            "post-text-plain",
            "POST",
            base,
            content=f'{{"key":"K","raw_value":"{SENTINEL}"}}'.encode(),
            headers={"Content-Type": "text/plain"},
        )
        # Wrong types.
        for label, raw in {
            "int": 5,
            "null": None,
            "bool": True,
            "list": [SENTINEL],
            "object": {"v": SENTINEL},
        }.items():
            add(f"post-raw-value-{label}", "POST", base, json={"key": "K", "raw_value": raw})
            add(f"put-raw-value-{label}", "PUT", one, json={"raw_value": raw})
        add("post-key-int", "POST", base, json={"key": 5, "raw_value": SENTINEL})
        add("post-key-null", "POST", base, json={"key": None, "raw_value": SENTINEL})
        add("post-key-list", "POST", base, json={"key": ["K"], "raw_value": SENTINEL})
        add("post-body-list", "POST", base, json=[{"key": "K", "raw_value": SENTINEL}])
        add("post-body-string", "POST", base, json=SENTINEL)
        add("put-body-number", "PUT", one, json=5)
        add("import-list", "PUT", base, json={"secrets": [SENTINEL]})
        add("import-string", "PUT", base, json={"secrets": SENTINEL})
        add("import-int-value", "PUT", base, json={"secrets": {"A": 5, "B": SENTINEL}})
        add("import-null-value", "PUT", base, json={"secrets": {"A": None, "B": SENTINEL}})
        add("import-nested", "PUT", base, json={"secrets": {"A": {"v": SENTINEL}}})
        # Missing fields.
        add("post-empty-object", "POST", base, json={})
        add("post-no-raw-value", "POST", base, json={"key": "K"})
        add("post-no-key", "POST", base, json={"raw_value": SENTINEL})
        add("put-empty-object", "PUT", one, json={})
        add("import-empty-object", "PUT", base, json={})
        # Unknown fields.
        add(
            "post-unknown-field",
            "POST",
            base,
            json={"key": "K", "raw_value": SENTINEL, "readonly": SENTINEL},
        )
        add("put-unknown-field", "PUT", one, json={"raw_value": SENTINEL, "apply_strategy": "x"})
        add("import-unknown-field", "PUT", base, json={"secrets": {"A": SENTINEL}, "mode": "x"})
        add("post-value-field", "POST", base, json={"key": "K", "value": SENTINEL})
        # Values the core refuses.
        add("post-nul-in-value", "POST", base, json={"key": "K", "raw_value": f"a\x00{SENTINEL}"})
        add(
            "put-lone-surrogate",
            "PUT",
            one,
            headers=JSON,
            content=f'{{"raw_value": "\\ud800{SENTINEL}"}}'.encode(),
        )
        add("put-value-over-64KiB", "PUT", one, json={"raw_value": SENTINEL * 4000})
        add(
            "import-value-over-64KiB",
            "PUT",
            base,
            json={"secrets": {"A": "ok", "B": SENTINEL * 4000}},
        )
        # Invalid keys in bodies.
        for label, key in {
            "dotdot-slash": "../x",
            "slash": "a/b",
            "encoded": "%2e%2e%2fx",
            "empty": "",
            "space": "a b",
            "dotdot": "..",
            "leading-dash": "-x",
            "trailing-dot": "x.",
            "double-dot": "a..b",
            "newline": "A\nB",
            "unicode": "CL\u00c9",
            "nul": "A\x00B",
            "too-long": "K" * 256,
            "way-too-long": "K" * 100_000,
        }.items():
            add(f"post-key-{label}", "POST", base, json={"key": key, "raw_value": SENTINEL})
            add(
                f"import-key-{label}",
                "PUT",
                base,
                json={"secrets": {"GOOD": SENTINEL, key: SENTINEL}},
            )
    return cases


def _path_key_cases() -> list[Case]:
    cases: list[Case] = []
    # As the client sends them (httpx keeps percent-escapes; the server decodes them).
    not_routed = ["%2e%2e%2fx", "a/b", "a%2Fb", "..%2F..%2FOWN", "%2e%2e%2F%2e%2e%2FOWN"]
    invalid = ["%2e%2e", "-x", "x-", "a..b", "a%20b", "%00", "K" * 256, "%C3%89", "a%0Ab", "~"]
    for level, base in LEVELS.items():
        for key in not_routed + invalid:
            status, code = (404, "not_found") if key in not_routed else (400, "bad_request")
            for method in ("GET", "PUT", "DELETE"):
                body = {"raw_value": SENTINEL} if method == "PUT" else None
                cases.append(
                    Case(
                        f"{level}-{method}-path-{key[:12]}",
                        method,
                        f"{base}/{key}",
                        status,
                        json=body,
                        code=code,
                    )
                )
    return cases


def _query_cases() -> list[Case]:
    cases: list[Case] = []
    lists = {
        "stack-secrets": STACK,
        "account-secrets": ACCOUNT,
        "stacks": "/api/3/stacks",
        "accounts": "/api/3/accounts",
        "account-audit": "/api/3/accounts/{account}/audit_logs",
    }
    bad = [
        {"page": "0"},
        {"page": "-1"},
        {"page": "abc"},
        {"page": "1.5"},
        {"page": ""},
        {"page": "9" * 5000},
        {"per_page": "0"},
        {"per_page": "-5"},
        {"per_page": "1001"},
        {"per_page": "abc"},
        {"per_page": "1e3"},
    ]
    for name, path in lists.items():
        for params in bad:
            label = "-".join(f"{k}={v[:6]}" for k, v in params.items())
            cases.append(Case(f"{name}-{label}", "GET", path, 400, params=params))
    for path in (STACK, f"{STACK}/OWN", ACCOUNT, f"{ACCOUNT}/SHARED"):
        cases.append(Case(f"reveal-maybe-{path[-6:]}", "GET", path, 400, params={"reveal": "2"}))
    for since in ("garbage", "2024-13-01T00:00:00Z", "yesterday", SENTINEL):
        cases.append(
            Case(
                f"audit-since-{since[:8]}",
                "GET",
                "/api/3/accounts/{account}/audit_logs",
                400,
                params={"since": since},
            )
        )
    return cases


def _if_match_cases() -> list[Case]:
    cases: list[Case] = []
    garbage = ["abc", '"abc"', '"-1"', '"1.0"', '""', "W/", "1, 2", '"1"x', " ", "x" * 100_000]
    for level, base in LEVELS.items():
        key = "OWN" if level == "stack" else "SHARED"
        for value in garbage:
            for method in ("PUT", "DELETE"):
                body = {"raw_value": SENTINEL} if method == "PUT" else None
                cases.append(
                    Case(
                        f"{level}-{method}-if-match-{value[:8]}",
                        method,
                        f"{base}/{key}",
                        400,
                        json=body,
                        headers={"If-Match": value},
                        code="bad_request",
                    )
                )
    return cases


CASES = _body_cases() + _path_key_cases() + _query_cases() + _if_match_cases()


def _send(client: TestClient, world: World, case: Case) -> Any:
    path = case.path.format(stack=world.stack.uid, account=world.account.uid)
    return client.request(
        case.method,
        path,
        json=case.json,
        content=case.content,
        headers=case.headers,
        params=case.params,
    )


def _assert_unchanged_and_silent(world: World, before: dict[str, object], text: str) -> None:
    assert SENTINEL not in text
    for value in [*SEEDED_ACCOUNT.values(), *SEEDED_STACK.values()]:
        assert value not in text
    assert snapshot(world.installation) == before


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_request_is_a_4xx_envelope_changing_nothing(bad_world: World, case: Case) -> None:
    before = snapshot(bad_world.installation)
    response = _send(bad_world.client, bad_world, case)
    assert_error(response, case.status, case.code)
    _assert_unchanged_and_silent(bad_world, before, response.text)


def _chunks(total: int, piece: int = 1024 * 1024) -> Iterator[bytes]:
    yield f'{{"key":"BIG","raw_value":"{SENTINEL}'.encode()
    sent = 0
    while sent < total:
        yield b"x" * piece
        sent += piece
    yield b'"}'


@pytest.mark.parametrize("level", ["stack", "account"])
@pytest.mark.parametrize("how", ["declared", "chunked"])
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_oversized_bodies_are_413_with_the_envelope(
    bad_world: World, level: str, how: str, method: str
) -> None:
    base = LEVELS[level].format(stack=bad_world.stack.uid, account=bad_world.account.uid)
    before = snapshot(bad_world.installation)
    body: bytes | Iterator[bytes]
    if how == "declared":
        body = f'{{"key":"BIG","raw_value":"{SENTINEL}'.encode() + b"x" * MAX_BODY_BYTES + b'"}'
    else:
        body = _chunks(MAX_BODY_BYTES)
    response = bad_world.client.request(method, base, content=body, headers=JSON)
    if how == "chunked":
        assert response.request.headers.get("transfer-encoding") == "chunked"
    else:
        assert int(response.request.headers["content-length"]) > MAX_BODY_BYTES
    body_json = assert_error(response, 413, "payload_too_large")
    assert str(MAX_BODY_BYTES) in body_json["error_description"]
    _assert_unchanged_and_silent(bad_world, before, response.text)


def test_a_body_just_under_the_limit_is_read(bad_world: World) -> None:
    """The limit refuses only what is over it: a big body reaches validation (400 for size)."""
    base = STACK.format(stack=bad_world.stack.uid)
    before = snapshot(bad_world.installation)
    padding = "x" * (MAX_BODY_BYTES - 200)
    response = bad_world.client.post(base, json={"key": "BIG", "raw_value": SENTINEL + padding})
    body = assert_error(response, 400, "bad_request")
    assert "limit" in body["error_description"]
    _assert_unchanged_and_silent(bad_world, before, response.text)


@pytest.mark.parametrize(
    "authorization",
    ["Bearer ssk_" + "A" * 100_000, "Bearer " + "x" * 100_000, "Basic " + "y" * 100_000],
    ids=["prefixed", "unprefixed", "basic"],
)
def test_very_long_authorization_headers_are_401(bad_world: World, authorization: str) -> None:
    # Its own address: these count as bad tokens, which the module's other cases must not meet.
    client = client_for(bad_world.app, None, address="198.51.100.77")
    before = snapshot(bad_world.installation)
    response = client.put(
        STACK.format(stack=bad_world.stack.uid) + "/OWN",
        json={"raw_value": SENTINEL},
        headers={"Authorization": authorization},
    )
    assert_error(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    assert "x" * 1000 not in response.text
    assert "A" * 1000 not in response.text
    _assert_unchanged_and_silent(bad_world, before, response.text)


def test_a_very_long_request_id_is_replaced_not_echoed(bad_world: World) -> None:
    response = bad_world.client.get(
        STACK.format(stack=bad_world.stack.uid), headers={"Request-Id": "r" * 100_000}
    )
    assert response.status_code == 200
    assert len(response.headers["request-id"]) <= 64
    assert "rrrr" not in response.headers["request-id"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/3/stacks/{stack}/secrets/../x",
        "/api/3/stacks/{stack}/secrets/../../../accounts/{account}/secrets/ESCAPED",
        "/api/3/stacks/{stack}/secrets/./OWN",
        "/api/3/stacks/{stack}/secrets/..",
        "/api/3/accounts/{account}/secrets/../../../stacks/{stack}/secrets/ESCAPED",
    ],
)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_dot_segments_reaching_the_server_unnormalised(
    bad_world: World, path: str, method: str
) -> None:
    """An HTTP client would resolve ``..``; a raw one may not. The server must not either."""
    target = path.format(stack=bad_world.stack.uid, account=bad_world.account.uid)
    token = bad_world.admin_token.token.encode()
    before = snapshot(bad_world.installation)
    response = raw_request(
        bad_world.app,
        method,
        target,
        [(b"authorization", b"Bearer " + token), (b"content-type", b"application/json")],
        f'{{"raw_value": "{SENTINEL}"}}'.encode(),
    )
    assert_raw_error(response)
    _assert_unchanged_and_silent(bad_world, before, response.body.decode())


# --- Known bugs: 500s on input the API should refuse (or accept) -----------------------------


def test_if_match_with_thousands_of_digits_is_a_4xx(bad_world: World) -> None:
    before = snapshot(bad_world.installation)
    response = bad_world.client.put(
        STACK.format(stack=bad_world.stack.uid) + "/OWN",
        json={"raw_value": SENTINEL},
        headers={"If-Match": '"' + "9" * 5000 + '"'},
    )
    assert_error(response, 400, "bad_request")
    _assert_unchanged_and_silent(bad_world, before, response.text)


def test_if_match_with_a_superscript_digit_is_a_4xx(bad_world: World) -> None:
    before = snapshot(bad_world.installation)
    token = bad_world.admin_token.token.encode()
    response = raw_request(
        bad_world.app,
        "PUT",
        STACK.format(stack=bad_world.stack.uid) + "/OWN",
        [
            (b"authorization", b"Bearer " + token),
            (b"content-type", b"application/json"),
            (b"if-match", b'"\xb2"'),
        ],
        f'{{"raw_value": "{SENTINEL}"}}'.encode(),
    )
    assert_raw_error(response)
    _assert_unchanged_and_silent(bad_world, before, response.body.decode())


def test_audit_log_page_beyond_the_integer_range_is_not_a_500(world: World) -> None:
    response = world.client.get(
        f"/api/3/accounts/{world.account.uid}/audit_logs", params={"page": str(10**20)}
    )
    if response.status_code == 200:
        assert response.json()["response"] == []
    else:
        assert_error(response, 400, "bad_request")


def test_audit_log_since_without_a_timezone_is_not_a_500(world: World) -> None:
    response = world.client.get(
        f"/api/3/accounts/{world.account.uid}/audit_logs", params={"since": "2020-01-01T00:00:00"}
    )
    if response.status_code == 200:
        assert response.json()["count"] > 0
    else:
        assert_error(response, 400, "bad_request")


def test_a_since_with_a_timezone_works(world: World) -> None:
    """The control for the test above: the same moment with an offset is accepted."""
    response = world.client.get(
        f"/api/3/accounts/{world.account.uid}/audit_logs",
        params={"since": "2020-01-01T00:00:00+00:00"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["count"] > 0
