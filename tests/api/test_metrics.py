"""`GET /metrics`: who may read it, and that the series move with the requests that make them.

Scraped from the app in-process and parsed with prometheus_client's own parser. SQLite only:
what is tested is the face's counting and its HTTP answers; the core calls under them run on
both databases in tests/core (and the pool gauges are read from SQLAlchemy's pool either way).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from stacksafe.api import create_app
from stacksafe.api.fast_path import FastPath
from stacksafe.api.metrics.labels import (
    VAULT_LOGIN_MOUNTS,
    check_label,
    purpose_label,
    vault_route,
)
from stacksafe.api.metrics.series import ApiMetrics
from stacksafe.api.vault.auth import LOGIN_MOUNTS
from stacksafe.core.installation import Installation
from stacksafe.core.principals import bootstrap_owner, create_token
from stacksafe.core.rotation import set_policy
from stacksafe.core.streams.config import SinkOptions
from stacksafe.core.streams.sinks import add_sink, sink_statuses
from tests.actors import LOCAL
from tests.api.helpers import World, build_world, client_for, set_local, user_with_token
from tests.clock import Clock
from tests.web.helpers import SAME_ORIGIN, build_web_world, page_csrf, signed_in

pytestmark = pytest.mark.databases("sqlite")  # see the module's docstring

OWNER = "owner@metrics.test"
KEY = "PAYMENT_GATEWAY_SECRET_KEY"  # a key name that must never show in a scrape
LIST_ROUTE = "/api/3/stacks/{stack_uid}/secrets"


@pytest.fixture
def owner_token(installation: Installation) -> str:
    bootstrap_owner(installation, OWNER)
    return create_token(installation, LOCAL, OWNER, scopes=["public", "admin"]).token


@pytest.fixture
def scraper(world: World, owner_token: str) -> Iterator[TestClient]:
    with client_for(world.app, owner_token) as client:
        yield client


def scrape(client: TestClient) -> list[Sample]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [s for f in text_string_to_metric_families(response.text) for s in f.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sample ``name`` whose labels include ``labels`` (0 when there is none yet)."""
    found = [
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


def requests_of(samples: list[Sample], route: str, status: str = "200") -> float:
    return value(samples, "stacksafe_http_requests_total", route=route, status=status)


def test_only_the_owners_admin_scoped_token_reads_the_metrics(
    world: World, installation: Installation, owner_token: str
) -> None:
    app = world.app
    assert client_for(app, None).get("/metrics").status_code == 401
    assert client_for(app, "not-a-token").get("/metrics").status_code == 401
    # An account's administrator (not the server owner): the series count every account.
    assert world.client.get("/metrics").status_code == 403
    public = create_token(installation, LOCAL, OWNER, scopes=["public"]).token
    assert client_for(app, public).get("/metrics").status_code == 403
    narrowed = create_token(
        installation, LOCAL, OWNER, scopes=["public", "admin"], stacks=[world.stack.uid]
    ).token
    assert client_for(app, narrowed).get("/metrics").status_code == 403

    samples = scrape(client_for(app, owner_token))
    assert requests_of(samples, "/metrics", "401") == 2
    assert requests_of(samples, "/metrics", "403") == 3
    # A wrong token is a guess, counted per address; a missing one is not.
    assert value(samples, "stacksafe_invalid_credentials_total") == 1


def test_a_reveal_counts_by_face_and_purpose_on_the_fast_path_and_through_fastapi(
    world: World, scraper: TestClient
) -> None:
    set_local(world.installation, world.stack_target, {KEY: "v"})
    before = scrape(scraper)
    fast, routed = "reveal=true", "reveal=true&unknown=1"
    # The first query is the fast path's (in front of FastAPI's middleware); the second it
    # leaves to FastAPI's route. Both must be counted, under the same route template.
    assert FastPath.asked(_scope(world.stack_url(), fast)) is not None
    assert FastPath.asked(_scope(world.stack_url(), routed)) is None
    for query in (fast, fast, routed):
        assert world.client.get(f"{world.stack_url()}?{query}").status_code == 200
    assert world.client.get(f"{world.stack_url(KEY)}?reveal=true").status_code == 200
    assert world.client.get(f"{world.stack_url()}?reveal=true&purpose=run+node").status_code == 200

    after = scrape(scraper)
    assert requests_of(after, LIST_ROUTE) - requests_of(before, LIST_ROUTE) == 4
    assert requests_of(after, f"{LIST_ROUTE}/{{key}}") == 1
    reveals = "stacksafe_reveals_total"
    assert value(after, reveals, face="api", purpose="list") == 3
    assert value(after, reveals, face="api", purpose="get") == 1
    assert value(after, reveals, face="api", purpose="run") == 1
    seconds = "stacksafe_http_request_duration_seconds_count"
    assert value(after, seconds, route=LIST_ROUTE, method="GET", status_class="2xx") == 4
    buckets = [
        (s.labels["le"], s.value)
        for s in after
        if s.name == "stacksafe_http_request_duration_seconds_bucket"
        and s.labels["route"] == LIST_ROUTE
    ]
    assert buckets[-1] == ("+Inf", 4)
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    assert buckets[0][0] == "0.0005"
    # Each reveal's audit event went through a group commit; the kept level was found again.
    assert value(after, "stacksafe_audit_commit_group_events_count") >= 5
    assert value(after, "stacksafe_audit_commit_duration_seconds_count") >= 1
    assert value(after, "stacksafe_audit_commit_failures_total") == 0
    for cache in ("read_cache", "pages", "tokens"):
        assert value(after, "stacksafe_cache_lookups_total", cache=cache, result="hit") >= 1


def test_vault_reads_count_in_a_thread_and_at_hand(world: World, scraper: TestClient) -> None:
    set_local(world.installation, world.stack_target, {KEY: "v"})
    for _ in range(3):  # the first resolves the path in a thread; then at hand, on the loop
        assert world.client.get("/v1/secret/data/acme/web").status_code == 200
    samples = scrape(scraper)
    assert requests_of(samples, "/v1/{mount}/data/{path}") == 3
    assert value(samples, "stacksafe_reveals_total", face="vault", purpose="kv") == 3


def test_refusals_count_under_their_status_and_limit(
    installation: Installation, owner_token: str
) -> None:
    world = build_world(installation, rate_limit=2)
    outsider = user_with_token(installation, "out@other.test", "acme", "viewer", scopes=["public"])
    with client_for(world.app, outsider.token) as client:
        # A viewer's token without the admin scope may not reveal: 403, recorded.
        assert client.get(f"{world.stack_url()}?reveal=true").status_code == 403
    with world.client:
        statuses = [world.client.get("/api/3/accounts").status_code for _ in range(3)]
    assert statuses == [200, 200, 503]  # the token's limit of 2 requests an hour
    with client_for(world.app, "tok_wrong", address="203.0.113.9") as guesser:
        guessed = [guesser.get("/api/3/accounts").status_code for _ in range(21)]
    assert guessed == [401] * 20 + [429]

    samples = scrape(client_for(world.app, owner_token))
    assert requests_of(samples, LIST_ROUTE, "403") == 1
    assert requests_of(samples, "/api/3/accounts", "503") == 1
    assert requests_of(samples, "/api/3/accounts", "429") == 1
    refusals = "stacksafe_rate_limit_refusals_total"
    assert value(samples, refusals, limit="per_token") == 1
    assert value(samples, refusals, limit="bad_tokens") == 1


def test_logins_count_by_method_outcome_and_check(world: World, scraper: TestClient) -> None:
    refused = world.client.post("/api/3/auth/jwt/login", json={"role": "nosuch", "jwt": "x.y.z"})
    assert refused.status_code == 401
    samples = scrape(scraper)
    logins = "stacksafe_logins_total"
    assert value(samples, logins, method="jwt", outcome="refused", check="role") == 1
    assert value(samples, logins, outcome="issued") == 0


def test_the_scheduler_reports_its_rotations(
    installation: Installation, owner_token: str, clock: Clock
) -> None:
    world = build_world(installation)
    set_local(installation, world.stack_target, {KEY: "original"})
    set_policy(
        installation,
        LOCAL,
        world.stack_target,
        KEY,
        rotate_every=timedelta(days=1),
        rotator="generate",
    )
    clock.now += timedelta(days=2)
    app = create_app(installation, rotation_interval=timedelta(milliseconds=20))
    with client_for(app, owner_token) as client:  # the lifespan starts the scheduler
        deadline = time.monotonic() + 10
        rotated = 0.0
        while rotated == 0 and time.monotonic() < deadline:  # a bounded wait for its thread
            samples = scrape(client)
            rotated = value(
                samples, "stacksafe_rotations_total", rotator="generate", outcome="rotated"
            )
            time.sleep(0.02)
    assert rotated == 1


def test_gauges_read_at_scrape(world: World, scraper: TestClient) -> None:
    samples = scrape(scraper)
    info = [s for s in samples if s.name == "stacksafe_build_info"]
    assert len(info) == 1
    assert info[0].labels["database"] == "sqlite"
    assert info[0].value == 1
    size = value(samples, "stacksafe_db_pool_size_connections")
    assert size >= 1
    assert value(samples, "stacksafe_db_pool_max_connections") >= size
    # The scrape itself holds no connection: the route's checks are done by then.
    assert value(samples, "stacksafe_db_pool_checked_out_connections") == 0
    assert not [s for s in samples if s.name == "stacksafe_audit_sink_lag_events"]

    metrics = world.app.metrics  # type: ignore[attr-defined]
    assert isinstance(metrics, ApiMetrics)
    metrics.watch_sink_lag(lambda: {"siem": 7, "archive": 0})
    lagging = scrape(scraper)
    assert value(lagging, "stacksafe_audit_sink_lag_events", sink="siem") == 7
    assert value(lagging, "stacksafe_audit_sink_lag_events", sink="archive") == 0


def test_no_label_holds_a_key_name_a_stack_or_a_path(
    world: World, scraper: TestClient, owner_token: str
) -> None:
    set_local(world.installation, world.stack_target, {KEY: "v"})
    client, uid = world.client, world.stack.uid
    for url in (
        f"{world.stack_url(KEY)}?reveal=true",
        f"{world.stack_url(KEY)}/more",
        f"{world.stack_url()}?reveal=true&purpose={KEY}",
        f"{world.stack_url()}?reveal=true&purpose=run+{KEY}",
        f"/v1/secret/data/acme/web/{KEY}",
        f"/v1/secret/metadata/acme/web/{KEY}",
        f"/v1/{KEY}/data/x",
        f"/{KEY}",
    ):
        assert client.get(url).status_code < 500, url
    assert client.request("BREW", f"/api/3/{KEY}").status_code < 500
    login = {"role": KEY.lower(), "jwt": KEY}
    assert client.post("/api/3/auth/jwt/login", json=login).status_code == 401
    assert client.post("/v1/auth/jwt/login", json=login).status_code in (400, 403)

    samples = scrape(scraper)
    shown = {v for s in samples for v in s.labels.values()}
    assert "/api/3/stacks/{stack_uid}/secrets/{key}" in shown
    assert "unmatched" in shown
    assert "other" in shown  # the BREW method, and the purpose that was a key name
    for label in shown:
        for forbidden in (KEY, KEY.lower(), uid, "acme", owner_token, world.admin_token.token):
            assert forbidden not in label, (label, forbidden)


def test_two_apps_count_apart(world: World, owner_token: str) -> None:
    other = create_app(world.installation)
    assert world.client.get("/api/3/accounts").status_code == 200
    with client_for(other, owner_token) as client:
        assert requests_of(scrape(client), "/api/3/accounts") == 0
    with client_for(world.app, owner_token) as client:
        assert requests_of(scrape(client), "/api/3/accounts") == 1


def _scope(path: str, query: str) -> dict[str, object]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": "",
        "headers": [],
        "query_string": query.encode(),
    }


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("sys/health", "/v1/sys/health"),
        ("sys/mounts/", "/v1/sys/mounts"),
        ("sys/internal/ui/mounts/secret/acme", "/v1/sys/internal/ui/mounts/{path}"),
        ("auth/token/lookup-self", "/v1/auth/token/lookup-self"),
        ("auth/kubernetes/login", "/v1/auth/kubernetes/login"),
        (f"auth/{KEY}/login", "unmatched"),
        ("secret/config", "/v1/{mount}/config"),
        (f"secret/data/acme/web/{KEY}", "/v1/{mount}/data/{path}"),
        ("secret/metadata/", "/v1/{mount}/metadata/{path}"),
        ("secret/destroy/acme/web", "/v1/{mount}/destroy/{path}"),
        (f"secret/{KEY}/acme", "unmatched"),
        (f"{KEY}/data/acme", "unmatched"),
    ],
)
def test_vault_paths_are_counted_by_template(path: str, template: str) -> None:
    assert vault_route(path, "secret") == template


def test_labels_are_bounded() -> None:
    assert set(LOGIN_MOUNTS) == VAULT_LOGIN_MOUNTS
    assert purpose_label("run node server.js") == "run"
    assert purpose_label(f"export {KEY}") == "export"
    assert purpose_label(KEY) == "other"
    assert check_label("claim repository") == "claim"
    assert check_label(f"{KEY}: detail") == "other"
    assert check_label(None) == ""


def test_every_series_is_documented(world: World, scraper: TestClient) -> None:
    world.app.metrics.watch_sink_lag(lambda: {"siem": 1})  # type: ignore[attr-defined]
    response = scraper.get("/metrics")
    families = {
        f.name
        for f in text_string_to_metric_families(response.text)
        if not f.name.endswith("_created")  # prometheus_client's start time of each series
    }
    assert len(families) >= 15
    documented = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    for family in families:
        assert f"`{family}" in documented, family


def test_a_web_reveal_counts_under_the_web_face(
    installation: Installation, owner_token: str
) -> None:
    web = build_web_world(installation)
    set_local(installation, web.stack_target, {KEY: "v"})
    client = signed_in(web.app, web.admin)
    url = f"{web.stack_url}/secrets/{KEY}/reveal"
    form = {"csrf": page_csrf(client, web.stack_url)}
    assert client.post(url, data=form, headers=SAME_ORIGIN).status_code == 200
    samples = scrape(client_for(web.app, owner_token))
    assert value(samples, "stacksafe_reveals_total", face="web", purpose="web") == 1
    route = "/stacks/{ref}/secrets/{key}/reveal"  # the web UI's own route template
    assert value(samples, "stacksafe_http_requests_total", route=route, method="POST") == 1


def test_an_audit_sinks_lag_is_scraped_as_stored(
    world: World, scraper: TestClient, tmp_path: Path
) -> None:
    """The app reads each sink's lag (core.streams.sinks) when scraped: a sink added behind
    the whole log shows it, by the name its owner gave."""
    installation = world.installation
    add_sink(installation, LOCAL, "siem", "file", SinkOptions(path=tmp_path / "siem.jsonl"))
    [status] = sink_statuses(installation)
    assert status.lag > 0
    assert value(scrape(scraper), "stacksafe_audit_sink_lag_events", sink="siem") >= status.lag
