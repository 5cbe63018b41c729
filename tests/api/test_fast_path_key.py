"""One key, ``GET .../secrets/{key}``, answered by api.fast_path exactly as the FastAPI route does.

As for the lists (tests/api/test_fast_path.py): every request goes to an app with the fast path
and to one without, over one installation; status, body (byte for byte), the headers a client
reads (``ETag`` among them) and the audit event must be the same. Then what a warm one-key
reveal costs, counted: no thread hop, no transaction, one never-waiting read (the revisions).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import stacksafe.api.fast_path as fast_path
from stacksafe.api.app import create_app
from stacksafe.api.list_query import read_key_query
from stacksafe.api.metrics.labels import FAST_ROUTES
from stacksafe.core.audit_events import list_events
from stacksafe.core.installation import Installation
from stacksafe.core.principals import revoke_token
from stacksafe.core.reveal import RevealQuery
from tests.actors import LOCAL
from tests.api.fast_answers import (
    REFUSED,
    both,
    compared,
    event_of,
    hops_counted,
    last_event,
    reads_counted,
    refused,
    statements_counted,
)
from tests.api.helpers import World, client_for, set_local, user_with_token
from tests.core.helpers_references import dangling
from tests.damage import KINDS, damage, values_seeded

# Queries the fast path answers for a key, and what it asks of core.reveal.
ANSWERED = {
    "": RevealQuery(purpose="get", key="K"),
    "reveal=true": RevealQuery(reveal=True, purpose="get", key="K"),
    "reveal=1&resolve=0": RevealQuery(reveal=True, resolve=False, purpose="get", key="K"),
    "resolve=false&reveal=True": RevealQuery(reveal=True, resolve=False, purpose="get", key="K"),
    "reveal=false": RevealQuery(purpose="get", key="K"),
}
# Queries it leaves to the route (a label, anything it would read or word otherwise).
PASSED_ON = [
    "label=current",
    "reveal=true&label=previous",
    "reveal=yes",
    "reveal=true&reveal=false",
    "reveal",
    "unknown=1",
    "purpose=run",
    "reveal=%C3%A9",
]


@pytest.mark.parametrize(("query", "expected"), ANSWERED.items())
def test_the_fast_path_reads_plainly_valid_key_queries(query: str, expected: RevealQuery) -> None:
    assert read_key_query(query.encode(), "K") == expected


@pytest.mark.parametrize("query", PASSED_ON)
def test_the_fast_path_passes_any_other_key_query_to_the_route(query: str) -> None:
    assert read_key_query(query.encode(), "K") is None


def test_an_invalid_key_goes_to_the_route_which_words_its_error() -> None:
    assert read_key_query(b"reveal=true", "bad key!") is None


def test_the_fast_path_answers_no_route_but_the_lists_and_keys(world: World) -> None:
    """Every GET route (of the OpenAPI document) whose path the fast path's pattern takes is
    one it answers for, under the template its requests are counted by (api.metrics)."""
    paths = create_app(world.installation).openapi()["paths"]
    taken = set()
    for path, operations in paths.items():
        sample = re.sub(r"\{[^}]+\}", "x", path)  # each parameter one plain segment
        if "get" in operations and fast_path._PATH.fullmatch(sample):
            taken.add(path)
    assert taken == set(FAST_ROUTES.values())


@pytest.fixture
def seeded(world: World) -> World:
    set_local(world.installation, world.account_target, {"SHARED": "from-account", "ONLY": "a"})
    set_local(
        world.installation,
        world.stack_target,
        {"OWN": "stack-value", "USES": "${SHARED}-and-${OWN}", "SHARED": "overridden"},
    )
    dangling(world.installation, world.stack_target, "BROKEN", "NOWHERE")
    return world


def _same(world: World, urls: list[str], token: str | None) -> list[dict[str, Any]]:
    """Ask both apps each of ``urls`` in turn; assert the same answers (bytes too) and the
    same last audit event after each. The answers."""
    fast, route = both(world, token)
    answers = []
    with fast, route:
        for url in urls:
            seen = []
            for client in (fast, route):
                response = client.get(url)
                seen.append((compared(response), response.content, last_event(world.installation)))
            assert seen[0] == seen[1], url
            answers.append(seen[0][0])
    return answers


KEYS = ["OWN", "SHARED", "ONLY", "USES", "BROKEN", "MISSING", "bad key"]


# SQLite only (tests/conftest.py, DATABASES): the matrix compares two faces over the same core
# calls; the refusals, the warm reveal and the audit failure below run on both databases.
@pytest.mark.databases("sqlite")
@pytest.mark.parametrize("level", ["stack", "account-uid", "account-name"])
def test_same_answer_and_same_audit_event_for_a_key_with_and_without_the_fast_path(
    seeded: World, level: str
) -> None:
    base = {
        "stack": seeded.stack_url(),
        "account-uid": seeded.account_url(),
        "account-name": "/api/3/accounts/acme/secrets",
    }[level]
    asked = [(key, query) for key in KEYS for query in [*ANSWERED, *PASSED_ON]]
    urls = [f"{base}/{key}?{query}" if query else f"{base}/{key}" for key, query in asked]
    answers = dict(zip(asked, _same(seeded, urls, seeded.admin_token.token), strict=True))
    assert {answers[key, "reveal=true"]["status"] for key in KEYS} == (
        {200, 400, 404, 409} if level == "stack" else {200, 400, 404}
    )
    assert answers["MISSING", "reveal=true"]["status"] == 404
    if level == "stack":
        own = answers["OWN", "reveal=true"]
        assert (own["status"], own["headers"]["etag"]) == (200, '"1"')
        assert own["body"]["response"]["raw_value"] == "stack-value"
        assert answers["BROKEN", "reveal=true"]["status"] == 409


@pytest.mark.parametrize("who", REFUSED)
def test_same_refusals_for_a_key_with_and_without_the_fast_path(seeded: World, who: str) -> None:
    token, uid = refused(seeded, who)
    url = f"/api/3/stacks/{uid}/secrets/OWN?reveal=true"
    assert seeded.client.get(url).status_code in (200, 404)  # the level kept: at hand if allowed
    answer = _same(seeded, [url], token)[0]
    assert answer["status"] == {"no-token": 401, "bad-token": 401, "revoked": 401}.get(
        who, 403 if who == "viewer" else 404
    )
    assert "stack-value" not in str(answer["body"])


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_key_is_its_integrity_error_with_and_without_the_fast_path(
    world: World, kind: str
) -> None:
    seeded = values_seeded()
    set_local(world.installation, world.account_target, seeded["account"])
    set_local(world.installation, world.stack_target, seeded["stack"])
    url = world.stack_url("K") + "?reveal=true"
    assert world.client.get(url).status_code == 200  # the level kept before the damage
    damage(world.installation.store.engine, world.stack.id, kind)
    answer = _same(world, [url], world.admin_token.token)[0]
    assert answer["status"] == 500
    assert answer["body"]["error"] == "integrity_error"
    assert last_event(world.installation)["detail"]["key"] == "K"


def test_a_key_is_not_sent_when_its_audit_event_cannot_be_written(seeded: World) -> None:
    from tests.core.test_fail_closed import break_audit_log

    url = seeded.stack_url("OWN") + "?reveal=true"
    for _ in range(2):  # the level kept: the next is answered at hand
        assert seeded.client.get(url).status_code == 200
    break_audit_log(seeded.installation)
    fast, route = both(seeded, seeded.admin_token.token)
    answers = []
    for client in (fast, route):
        with client:
            answers.append(client.get(url))
    for response in answers:
        assert response.status_code == 503
        assert response.json()["error"] == "audit_unavailable"
        assert "stack-value" not in response.text
        assert "etag" not in response.headers
    assert answers[0].json() == answers[1].json()


# --- A warm key: answered at hand, on the event loop.


@pytest.fixture
def plain(world: World) -> World:
    """Values without references: a warm reveal of the stack or of a key is answered at hand."""
    set_local(world.installation, world.account_target, {"SHARED": "from-account", "ONLY": "a"})
    set_local(
        world.installation, world.stack_target, {"OWN": "stack-value", "SHARED": "overridden"}
    )
    return world


class _Counted:
    """What a request did: thread hops, the event loop's one-statement reads, transactions."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, installation: Installation) -> None:
        self.hops = hops_counted(monkeypatch)
        self.quick = statements_counted(monkeypatch, installation)
        self.reads = reads_counted(monkeypatch, installation)


def test_a_warm_key_is_answered_on_the_event_loop_with_one_read_of_the_revisions(
    plain: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, url = plain.client, plain.stack_url("OWN") + "?reveal=true"
    first = client.get(url)  # reads and decrypts the level: kept
    counted = _Counted(monkeypatch, plain.installation)
    second = client.get(url)
    # Both databases: the revisions read on the event loop (SQLite's at once, PostgreSQL's
    # awaited), no transaction, no thread.
    assert (counted.hops, counted.reads, counted.quick) == ([], [], [1])
    assert second.status_code == first.status_code == 200
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"] == '"1"'
    assert event_of(second, plain.installation) == event_of(first, plain.installation)
    assert event_of(second, plain.installation)["detail"]["keys"] == {"OWN": 1}
    assert int(second.headers["x-ratelimit-remaining"]) == (
        int(first.headers["x-ratelimit-remaining"]) - 1
    )


def test_a_warm_reveal_of_a_missing_key_is_a_404_at_hand_and_records_nothing(
    plain: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = plain.client
    assert client.get(plain.stack_url("OWN") + "?reveal=true").status_code == 200
    events = len(list_events(plain.installation, limit=1000))
    counted = _Counted(monkeypatch, plain.installation)
    missing = client.get(plain.stack_url("NOPE") + "?reveal=true")
    assert missing.status_code == 404
    assert missing.json()["error_description"].startswith("secret 'NOPE' does not exist")
    assert counted.hops == []
    assert len(list_events(plain.installation, limit=1000)) == events


@pytest.mark.parametrize("change", ["revoked", "demoted", "key-written"])
def test_a_change_after_a_warm_key_applies_to_the_next_one(plain: World, change: str) -> None:
    installation = plain.installation
    created = user_with_token(installation, "ops@acme.test", "acme", "administrator")
    url = plain.stack_url("OWN") + "?reveal=true"
    with client_for(create_app(installation), created.token) as client:
        for _ in range(2):  # the level kept; then at hand
            assert client.get(url).status_code == 200
        if change == "revoked":
            revoke_token(installation, LOCAL, created.uid)
        elif change == "demoted":
            user_with_token(installation, "ops@acme.test", "acme", "viewer")
        else:
            set_local(installation, plain.stack_target, {"OWN": "changed"})
        after = client.get(url)
    if change == "key-written":
        assert after.status_code == 200
        assert after.json()["response"]["raw_value"] == "changed"
        assert after.headers["etag"] == '"2"'
        return
    assert after.status_code == {"revoked": 401, "demoted": 403}[change]
    assert "stack-value" not in after.text
    if change == "demoted":  # the refusal is recorded, once
        assert event_of(after, installation)["outcome"] == "denied"
