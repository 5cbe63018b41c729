"""Invalid tokens from one address: counted in the database (shared by every server), answered
429 past the limit, and never a reason to refuse a valid token from the same address (behind a
load balancer, every client has that address). On SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from stacksafe.api import create_app
from stacksafe.api.app import BAD_TOKEN_LIMIT, BAD_TOKEN_SECONDS
from stacksafe.core.audit_events import list_events
from stacksafe.core.installation import Installation, open_installation
from stacksafe.settings import Settings
from stacksafe.store.schema import failures
from tests.api.helpers import World, assert_error, client_for, set_local
from tests.clock import Clock

PROXY = "10.0.0.2"  # the load balancer every client's request comes from
BAD = "ssk_" + "x" * 43
WARM = "?reveal=true"


def _failure_rows(installation: Installation) -> list[tuple[int, int]]:
    with installation.store.read() as conn:
        found = conn.execute(select(failures.c.period, failures.c.failed))
        return [(int(period), int(failed)) for period, failed in found]


def test_a_hundred_bad_tokens_from_an_address_do_not_refuse_a_valid_one_from_it(
    world: World, clock: Clock
) -> None:
    set_local(world.installation, world.stack_target, {"K": "kept-value-7"})
    with client_for(world.app, BAD, address=PROXY) as attacker:
        answers = [attacker.get(world.stack_url()) for _ in range(100)]
    assert [a.status_code for a in answers] == [401] * BAD_TOKEN_LIMIT + [429] * (
        100 - BAD_TOKEN_LIMIT
    )
    throttled = assert_error(answers[-1], 429, "throttled")
    assert "invalid tokens from this address" in throttled["error_description"]
    # The sliding window: the flood fades from the next window on.
    assert BAD_TOKEN_SECONDS <= int(answers[-1].headers["retry-after"]) <= 2 * BAD_TOKEN_SECONDS
    assert BAD not in answers[-1].text

    with client_for(world.app, world.admin_token.token, address=PROXY) as user:
        for url in (world.stack_url(), world.stack_url() + WARM, "/api/3/accounts"):
            answer = user.get(url)
            assert answer.status_code == 200, (url, answer.text)
        # A write too (through FastAPI, not the lane).
        assert user.put(world.stack_url("NEW"), json={"raw_value": "v-1"}).status_code in (200, 201)


def test_the_warm_lane_answers_a_valid_token_after_a_flood_of_bad_ones(
    world: World, clock: Clock
) -> None:
    set_local(world.installation, world.stack_target, {"K": "kept-value-8"})
    url = world.stack_url() + WARM
    with client_for(world.app, world.admin_token.token, address=PROXY) as user:
        for _ in range(3):  # read, then kept: answered at hand on the event loop (api.fast_path)
            assert user.get(url).status_code == 200
        with client_for(world.app, BAD, address=PROXY) as attacker:
            codes = {attacker.get(url).status_code for _ in range(BAD_TOKEN_LIMIT + 5)}
        assert codes == {401, 429}
        answer = user.get(url)
    assert answer.status_code == 200
    assert {s["key"]: s["raw_value"] for s in answer.json()["response"]} == {"K": "kept-value-8"}


def test_a_flood_is_one_audit_event_and_no_write_per_throttled_request(
    world: World, clock: Clock
) -> None:
    before = len(list_events(world.installation, limit=1000))
    with client_for(world.app, BAD, address=PROXY) as attacker:
        for _ in range(BAD_TOKEN_LIMIT + 1):
            attacker.get(world.stack_url())
        rows = _failure_rows(world.installation)
        for _ in range(200):
            assert attacker.get(world.stack_url()).status_code == 429
    assert _failure_rows(world.installation) == rows == [(rows[0][0], BAD_TOKEN_LIMIT + 1)]
    events = list_events(world.installation, limit=1000)
    assert len(events) == before + 1
    event = events[0]
    assert (event.action, event.outcome, event.source_ip) == ("token.throttled", "denied", PROXY)
    assert event.detail["failures"] == BAD_TOKEN_LIMIT + 1
    assert event.detail["window_seconds"] == BAD_TOKEN_SECONDS
    assert BAD not in str(event.detail)


def test_the_throttle_lifts_as_the_window_slides(world: World, clock: Clock) -> None:
    with client_for(world.app, BAD, address=PROXY) as attacker:
        for _ in range(BAD_TOKEN_LIMIT):
            assert attacker.get(world.stack_url()).status_code == 401
        refused = attacker.get(world.stack_url())
        assert refused.status_code == 429
        clock.now += timedelta(seconds=int(refused.headers["retry-after"]))
        assert attacker.get(world.stack_url()).status_code == 401  # one more fits
        assert attacker.get(world.stack_url()).status_code == 429
        clock.tick(2)  # two windows on: nothing of the flood weighs any more
        assert attacker.get(world.stack_url()).status_code == 401
    other = client_for(world.app, BAD, address="10.0.0.3")
    assert other.get(world.stack_url()).status_code == 401  # addresses are counted apart


@pytest.fixture
def second_server(settings: Settings, installation: Installation) -> Iterator[Installation]:
    """Another server's installation on the same database: its own process memory, shared rows."""
    other = open_installation(settings)
    other.clock = installation.clock
    try:
        yield other
    finally:
        other.close()


def test_failures_on_one_server_count_on_the_other(
    world: World, clock: Clock, second_server: Installation
) -> None:
    second_app = create_app(second_server)
    half = BAD_TOKEN_LIMIT // 2
    with (
        client_for(world.app, BAD, address=PROXY) as first,
        client_for(second_app, BAD, address=PROXY) as second,
    ):
        for _ in range(half):
            assert first.get(world.stack_url()).status_code == 401
        for _ in range(BAD_TOKEN_LIMIT - half):
            assert second.get(world.stack_url()).status_code == 401
        assert first.get(world.stack_url()).status_code == 429
        assert second.get(world.stack_url()).status_code == 429
    with client_for(second_app, world.admin_token.token, address=PROXY) as user:
        assert user.get(world.stack_url()).status_code == 200


def test_an_ipv6_host_cannot_rotate_through_its_64_for_fresh_budgets(
    world: World, clock: Clock
) -> None:
    for n in range(BAD_TOKEN_LIMIT):
        rotating = client_for(world.app, BAD, address=f"2001:db8:1:2::{n + 1:x}")
        assert rotating.get(world.stack_url()).status_code == 401
    again = client_for(world.app, BAD, address="2001:db8:1:2:ffff::1")
    assert again.get(world.stack_url()).status_code == 429
    neighbour = client_for(world.app, BAD, address="2001:db8:1:3::1")  # another /64
    assert neighbour.get(world.stack_url()).status_code == 401
    valid = client_for(world.app, world.admin_token.token, address="2001:db8:1:2::1")
    assert valid.get(world.stack_url()).status_code == 200
