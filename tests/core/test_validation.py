"""core.validation: the input rules every face (API, web UI, CLI) relies on, checked at the core.

The faces' tests reach these through HTTP and forms; here each rule is pinned where it lives:
what is accepted, what comes back (a duration, a moment in UTC), and the one-line message.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from stacksafe.core.validation import (
    MAX_DURATION,
    MAX_MOMENT,
    MIN_MOMENT,
    parse_duration,
    validate_environment,
    validate_key,
    validate_moment,
    validate_name,
    validate_value,
)
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        (" 7d ", timedelta(days=7)),  # surrounding spaces are forgiven
        ("36525d", MAX_DURATION),  # exactly the limit
    ],
)
def test_a_duration_is_a_positive_number_and_a_unit(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "d", "30", "0d", "000h", "-1d", "1.5h", "30 d", "1y", "1D"])
def test_anything_else_is_not_a_duration(text: str) -> None:
    with pytest.raises(InvalidInput, match="is not valid: use a positive number and s, m, h"):
        parse_duration(text)


def test_a_duration_over_a_hundred_years_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"duration '36526d' is longer than 100 years"):
        parse_duration("36526d")
    with pytest.raises(InvalidInput, match="longer than 100 years"):
        parse_duration("999999w")  # the most digits the pattern takes


def test_a_duration_error_names_the_field_it_came_from() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_duration("soon", "rotate_every")
    assert str(refused.value).startswith("rotate_every: duration 'soon' is not valid")
    with pytest.raises(InvalidInput) as unnamed:
        parse_duration("soon")
    assert str(unnamed.value).startswith("duration 'soon' is not valid")


def test_a_moment_is_returned_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    moment = validate_moment(datetime(2027, 6, 1, 14, 30, tzinfo=paris), "expires_at")
    assert moment == datetime(2027, 6, 1, 12, 30, tzinfo=UTC)
    assert moment.tzinfo is UTC
    assert validate_moment(MIN_MOMENT, "at") == MIN_MOMENT


def test_a_moment_without_a_time_zone_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"^expires_at needs a time zone"):
        validate_moment(datetime(2027, 1, 31), "expires_at")


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),  # just before MIN_MOMENT
        MAX_MOMENT,  # the upper bound is exclusive
        datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),  # year 10000 in UTC
        datetime(1970, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),  # 1969 in UTC
    ],
)
def test_a_moment_outside_the_bounds_in_utc_is_refused(moment: datetime) -> None:
    with pytest.raises(InvalidInput, match=r"^since must lie between 1970 and 9000 \(UTC\)"):
        validate_moment(moment, "since")


def test_values_must_fit_the_limit_in_utf8_bytes() -> None:
    assert validate_value("K", SecretValue("é" * 5), 10).reveal() == "é" * 5  # 10 bytes
    with pytest.raises(InvalidInput, match=r"^value of 'K' is 12 bytes; the limit is 10 bytes$"):
        validate_value("K", SecretValue("é" * 6), 10)


def test_values_with_nul_or_lone_surrogates_are_refused() -> None:
    with pytest.raises(InvalidInput, match="contains a NUL character"):
        validate_value("K", SecretValue("a\x00b"), 100)
    # What bytes that are not UTF-8 become when read from an environment (surrogateescape).
    with pytest.raises(InvalidInput, match=r"^value of 'K' is not valid UTF-8 text$"):
        validate_value("K", SecretValue("caf\udce9"), 100)


def test_keys() -> None:
    for key in ("A", "DATABASE_URL", "a.b-c_d", "9LIVES"):
        assert validate_key(key) == key
    for key in ("", "_A", "A_", "A..B", "A B", "A=B", "ключ"):
        with pytest.raises(InvalidInput, match="is not valid: use letters and digits"):
            validate_key(key)
    with pytest.raises(InvalidInput, match=r"is 256 characters long; the limit is 255$") as long:
        validate_key("K" * 256)
    shown = str(long.value).split(" is 256")[0]
    assert shown == "key '" + "K" * 57 + "...'"  # shortened in the message


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "stack name must not be empty"),
        ("   ", "stack name must not be empty"),
        (" web", "stack name ' web' must not start or end with spaces"),
        ("web\t", "stack name 'web\\t' must not start or end with spaces"),
        ("w" * 256, "stack name is 256 characters; the limit is 255"),
        ("we\nb", "stack name 'we\\nb' contains control characters"),
        ("we\x7fb", "stack name 'we\\x7fb' contains control characters"),
    ],
)
def test_names(name: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_name("stack", name)
    assert str(refused.value) == message


def test_names_may_hold_spaces_and_any_script_inside() -> None:
    assert validate_name("account", "Acme Corp — Zürich") == "Acme Corp — Zürich"


def test_environments() -> None:
    for environment in ("production", "qa", "eu-west.1", "A_b", "x" * 64):
        assert validate_environment(environment) == environment
    for environment in ("", "-prod", ".x", "x" * 65, "pro duction", "prod/1"):
        with pytest.raises(InvalidInput, match="is not valid: use up to 64 letters"):
            validate_environment(environment)
