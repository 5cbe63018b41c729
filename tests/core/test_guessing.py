"""Failures counted per target in the database (core.guessing), on SQLite and PostgreSQL, on the
test's clock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from stacksafe.core.guessing import FailureCounts, Limit
from stacksafe.core.installation import Installation
from tests.clock import Clock


def test_concurrent_attempts_get_exactly_the_limit_past(
    installation: Installation, clock: Clock
) -> None:
    """Counted before the check, in one statement: attempts racing on several connections
    cannot each slip past the limit."""
    counts = FailureCounts(installation, Limit("race", 5, 60))

    def attempt(_: int) -> bool:
        return not installation.store.transact(
            lambda conn: counts.attempt_in(conn, "t"), "t"
        ).throttled

    with ThreadPoolExecutor(8) as pool:
        admitted = list(pool.map(attempt, range(24)))
    assert admitted.count(True) == 5
    assert counts.check("t").throttled


def test_a_forgiven_attempt_is_not_counted(installation: Installation, clock: Clock) -> None:
    counts = FailureCounts(installation, Limit("forgive", 2, 60))
    for _ in range(10):
        installation.store.transact(lambda conn: counts.attempt_in(conn, "t"), "t")
        installation.store.transact(lambda conn: counts.forgive_in(conn, "t"), "t")
    assert counts.check("t").failures == 0


def test_the_previous_window_fades_and_retry_after_says_when(
    installation: Installation, clock: Clock
) -> None:
    counts = FailureCounts(installation, Limit("fade", 10, 60))  # the clock is at a minute's start
    answers = [counts.failed("t") for _ in range(11)]
    assert [a.throttled for a in answers] == [False] * 10 + [True]
    assert [a.started for a in answers] == [False] * 10 + [True]
    # 11 in this window: the next has 11 * (1 - f) <= 9 after f >= 2/11 of it: 60 + 11 s.
    assert answers[-1].retry_after == 71
    clock.now += timedelta(seconds=70)
    assert counts.check("t").throttled
    clock.now += timedelta(seconds=1)
    assert not counts.check("t").throttled
    assert not counts.failed("t").throttled  # one fits
    assert counts.failed("t").throttled
    clock.tick(2)  # two windows on: nothing weighs
    assert counts.check("t").failures == 0


def test_targets_and_kinds_are_counted_apart(installation: Installation, clock: Clock) -> None:
    first = FailureCounts(installation, Limit("one", 1, 60))
    second = FailureCounts(installation, Limit("two", 1, 60))
    assert not first.failed("t").throttled
    assert first.failed("t").throttled
    assert not first.failed("u").throttled
    assert not second.failed("t").throttled


@pytest.mark.parametrize(("failures", "seconds"), [(0, 60), (1, 0)])
def test_nonsense_limits_are_refused(failures: int, seconds: int) -> None:
    with pytest.raises(ValueError, match="at least one failure and one second"):
        Limit("bad", failures, seconds)


def test_addresses_are_counted_by_host_and_ipv6_by_its_64() -> None:
    from stacksafe.core.guessing import address_counted

    assert address_counted("192.0.2.7") == "192.0.2.7"
    assert address_counted("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert address_counted("2001:DB8:1:2::ffff") == "2001:db8:1:2::/64"
    assert address_counted("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_counted("unknown") == "unknown"
