"""User-given moments and durations are bounded, so date arithmetic can never overflow into a
500: an expiry must lie between 1970 and 9000 in UTC (year 9999 with a negative offset is year
10000 in UTC, which ``datetime`` cannot hold), a duration is at most 100 years; anything else is
a 400 naming the field, and changes nothing. SQLite and PostgreSQL (``world``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stacksafe.core.validation import MAX_DURATION, MAX_MOMENT, MIN_MOMENT, validate_moment
from stacksafe.errors import InvalidInput
from tests.api.helpers import World, assert_error, set_local, snapshot

OUT_OF_RANGE = [
    "9999-12-31T23:59:59-05:00",  # the schemathesis-class finding of issue 17: year 10000 in UTC
    "9999-12-31T23:59:59.999999+00:00",
    "0001-01-01T00:00:00+05:00",  # year 0 in UTC
    "9000-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
]


@pytest.mark.parametrize("expires_at", OUT_OF_RANGE)
def test_an_expiry_out_of_range_is_a_400_naming_it(world: World, expires_at: str) -> None:
    set_local(world.installation, world.stack_target, {"K": "v"})
    before = snapshot(world.installation)
    refused = world.client.put(
        world.stack_url("K") + "/rotation", json={"expires_at": expires_at, "rotate_every": "30d"}
    )
    assert "expires_at" in assert_error(refused, 400, "bad_request")["error_description"]
    assert snapshot(world.installation) == before


def test_the_last_moment_in_range_is_accepted_and_reads_back(world: World) -> None:
    set_local(world.installation, world.stack_target, {"K": "v"})
    url = world.stack_url("K") + "/rotation"
    put = world.client.put(url, json={"expires_at": "8999-12-31T23:00:00-00:59"})
    assert put.status_code == 200, put.text
    assert put.json()["response"]["expires_at_iso"] == "8999-12-31T23:59:00Z"
    status = world.client.get(
        f"/api/3/accounts/{world.account.uid}/rotation_status",
        params={"all": "true", "within": "36500d"},
    )
    assert status.status_code == 200, status.text


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PUT", "stack-rotation", {"rotate_every": "999999w"}, "rotate_every"),
        ("GET", "rotation_status?within=999999w", None, "within"),
        (
            "POST",
            "/api/3/tokens",
            {"user": "admin@acme.test", "scopes": ["public"], "expires_in": "999999d"},
            "expires_in",
        ),
    ],
)
def test_a_duration_over_100_years_is_a_400_naming_its_field(
    world: World, method: str, path: str, body: object, field: str
) -> None:
    set_local(world.installation, world.stack_target, {"K": "v"})
    url = {
        "stack-rotation": world.stack_url("K") + "/rotation",
        "rotation_status?within=999999w": (
            f"/api/3/accounts/{world.account.uid}/rotation_status?within=999999w"
        ),
    }.get(path, path)
    before = snapshot(world.installation)
    refused = world.client.request(method, url, json=body)
    description = assert_error(refused, 400, "bad_request")["error_description"]
    assert description.startswith(f"{field}: duration"), description
    assert "100 years" in description
    assert snapshot(world.installation) == before


def test_the_bounds_leave_room_for_every_duration() -> None:
    """What makes the bound sufficient: the latest moment plus the longest duration, and the
    earliest minus it, are still datetimes."""
    assert (MAX_MOMENT + MAX_DURATION).year < 9999
    assert (MIN_MOMENT - MAX_DURATION).year > 1
    last = MAX_MOMENT - timedelta(microseconds=1)
    assert validate_moment(last, "expires_at") == last
    with pytest.raises(InvalidInput, match="expires_at needs a time zone"):
        validate_moment(datetime(2030, 1, 1), "expires_at")
    assert validate_moment(datetime(2030, 1, 1, tzinfo=UTC), "x").tzinfo is UTC
