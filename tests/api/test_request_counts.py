"""The per-token rate limit across servers: each server counts in its process and shares its
counts through the database at each flush (a thread does it about once a second when serving;
here the test flushes), so requests on one server count against the limit on the other. On
SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from stacksafe.api import create_app
from stacksafe.api.deps import ApiState
from stacksafe.api.request_counts import shared_window
from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.request_counts import RequestCounts
from stacksafe.settings import Settings
from stacksafe.store.failures import BATCH_ROWS
from stacksafe.store.schema import failures
from tests.api.helpers import World, assert_error, client_for
from tests.clock import Clock

LIMIT = 5
WARM = "?reveal=true"  # answered on the event loop's lane, counted all the same


@pytest.fixture
def second_server(settings: Settings, installation: Installation) -> Iterator[Installation]:
    """Another server's installation on the same database: its own process memory, shared rows."""
    other = open_installation(settings)
    other.clock = installation.clock
    try:
        yield other
    finally:
        other.close()


def _flush(app: FastAPI) -> int:
    state: ApiState = app.state.stacksafe
    return state.per_token.flush(state.request_counts)


def _rows(installation: Installation) -> list[tuple[bytes, int, int]]:
    with installation.store.read() as conn:
        found = conn.execute(select(failures.c.target, failures.c.period, failures.c.failed))
        return [(bytes(target), int(period), int(failed)) for target, period, failed in found]


def test_requests_on_one_server_count_against_the_limit_on_the_other(
    world: World, clock: Clock, second_server: Installation
) -> None:
    first_app = create_app(world.installation, rate_limit=LIMIT)
    second_app = create_app(second_server, rate_limit=LIMIT)
    token = world.admin_token.token
    with client_for(first_app, token) as first, client_for(second_app, token) as second:
        for url in (world.stack_url(), world.stack_url() + WARM, world.stack_url()):
            assert first.get(url).status_code == 200
        answer = second.get(world.stack_url())  # it does not know of the first's yet
        assert answer.headers["x-ratelimit-remaining"] == str(LIMIT - 1)
        assert _flush(first_app) == 1
        assert _flush(second_app) == 1  # sends its one, learns the first's three
        answer = second.get(world.stack_url() + WARM)
        assert answer.status_code == 200
        assert answer.headers["x-ratelimit-remaining"] == "0"
        refused = second.get(world.stack_url())
        assert_error(refused, 503, "throttled")
        # The next window, in which the full one weighs 5 until it has faded to 4.
        assert int(refused.headers["retry-after"]) > 0
        # The first learns the second's at its next flush (it has a new count to send).
        assert first.get("/api/3/accounts").status_code == 200  # one flush interval's worth
        _flush(first_app)
        assert_error(first.get(world.stack_url() + WARM), 503, "throttled")
        assert _flush(second_app) == 1  # its fifth
    rows = _rows(world.installation)
    assert [failed for _, _, failed in rows] == [LIMIT + 1]  # both servers', this window
    assert token.encode() not in rows[0][0]  # a keyed hash of the token's id


def test_the_shared_counts_fade_with_the_window(
    world: World, clock: Clock, second_server: Installation
) -> None:
    first_app = create_app(world.installation, rate_limit=LIMIT)
    second_app = create_app(second_server, rate_limit=LIMIT)
    token = world.admin_token.token
    with client_for(first_app, token) as first, client_for(second_app, token) as second:
        for _ in range(LIMIT):
            assert first.get("/api/3/accounts").status_code == 200
        _flush(first_app)
        clock.tick(60)  # the next window: the first's five weigh as the previous one
        assert second.get("/api/3/accounts").status_code == 200
        _flush(second_app)  # learns them
        assert_error(second.get("/api/3/accounts"), 503, "throttled")
        clock.tick(45)  # 45 minutes on: the previous five weigh 5 * 15/60, with one of its own
        assert second.get("/api/3/accounts").status_code == 200


def test_a_flush_of_more_keys_than_one_statement_takes(world: World, clock: Clock) -> None:
    """Batches are split (store.failures.BATCH_ROWS) within the databases' parameter limits;
    every key's count arrives, and another process learns each."""
    keys = [f"token-{n}" for n in range(2 * BATCH_ROWS + 7)]
    first = shared_window(world.installation, 3, 3600.0)
    second = shared_window(world.installation, 3, 3600.0)
    counts = RequestCounts(world.installation, 3600.0)
    for key in keys:
        first.hit(key)
        first.hit(key)
        second.hit(key)
    assert first.flush(counts) == len(keys)
    assert second.flush(counts) == len(keys)
    assert all(second.hit(key) is None for key in keys)  # 2 + 1 of 3 already
    assert sorted(failed for _, _, failed in _rows(world.installation)) == [3] * len(keys)


def test_a_flush_in_a_new_window_prunes_the_counts_that_weigh_nothing(
    world: World, clock: Clock
) -> None:
    """With no failure ever counted (core.guessing prunes then too), the flushes themselves
    keep the table to the windows that still weigh."""
    window = shared_window(world.installation, 10, 3600.0)
    counts = RequestCounts(world.installation, 3600.0)
    for hours in range(4):
        window.hit(f"hour-{hours}")
        window.flush(counts)
        clock.tick(60)
    window.hit("now")
    window.flush(counts)
    periods = sorted(period for _, period, _ in _rows(world.installation))
    now = int(clock.now.timestamp()) // 3600
    assert periods == [now - 1, now]  # the previous hour's row and this one's
