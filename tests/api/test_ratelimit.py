"""The sliding-window counter behind per-token limits and bad-token throttling, on a fake clock."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stacksafe.api.ratelimit import NewCounts, SlidingWindow


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_fresh_key_gets_exactly_the_limit_then_none() -> None:
    clock = Clock()
    window = SlidingWindow(3, 60.0, clock)

    assert [window.hit("t") for _ in range(4)] == [2, 1, 0, None]
    assert window.exceeded("t")
    assert window.hit("other") == 2  # keys are independent


def test_the_previous_window_fades_out_as_the_window_slides() -> None:
    clock = Clock(6000.0)  # the start of a 60 s window
    window = SlidingWindow(10, 60.0, clock)
    for _ in range(10):
        assert window.hit("t") is not None
    assert window.hit("t") is None

    clock.now += 60.0  # next window starts: the full previous one still weighs 10
    assert window.hit("t") is None
    assert window.reset_in("t") == 6  # 10 * (1 - 6/60) = 9 leaves room for one
    clock.now += 6.0
    assert window.hit("t") == 0
    assert window.hit("t") is None
    clock.now += 60.0  # two windows later nothing of the first remains
    assert window.reset_in("t") == 0
    assert window.hit("t") is not None


def test_a_key_idle_for_two_windows_starts_afresh() -> None:
    clock = Clock(0.0)
    window = SlidingWindow(2, 10.0, clock)
    window.hit("t")
    window.hit("t")
    assert window.hit("t") is None
    clock.now += 25.0
    assert window.hit("t") == 1


def test_reset_in_waits_past_the_next_window_when_the_current_one_is_full() -> None:
    """Full on its own, the window is the previous one of the next, where it still weighs its
    full count at first: one more request fits only once it has faded to the limit less one
    (was: the start of the next window, a Retry-After at which the request is refused)."""
    clock = Clock(100.0)  # 40 s into a 60 s window
    window = SlidingWindow(2, 60.0, clock)
    window.hit("t")
    window.hit("t")
    assert window.hit("t") is None
    assert window.reset_in("t") == 50  # 20 s to the next window, then 2 * (1 - 30/60) = 1
    clock.now += 49
    assert window.hit("t") is None
    clock.now += 1
    assert window.hit("t") == 0
    assert window.reset_in("never-seen") == 0


@given(
    limit=st.integers(1, 10),
    steps=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=60),
)
def test_a_refused_request_is_admitted_after_reset_in(limit: int, steps: list[int]) -> None:
    clock = Clock(0.0)
    window = SlidingWindow(limit, 30.0, clock)
    for step in steps:
        clock.now += step
        if window.hit("t") is None:
            wait = window.reset_in("t")
            assert wait > 0
            clock.now += wait
            assert window.hit("t") is not None


def test_exceeded_neither_counts_nor_remembers() -> None:
    window = SlidingWindow(1, 60.0, Clock())
    for _ in range(1000):
        assert not window.exceeded(f"198.51.100.{_}")
    assert len(window) == 0
    assert window.hit("t") == 0


def test_the_table_is_bounded_and_forgets_the_least_recently_seen_key() -> None:
    window = SlidingWindow(1, 60.0, Clock(), max_keys=3)
    for key in ("a", "b", "c"):
        assert window.hit(key) == 0
    assert window.hit("a") is None  # "a" is now the most recently seen
    assert window.hit("d") == 0  # evicts "b"
    assert len(window) == 3
    assert window.hit("b") == 0  # forgotten, so counted afresh
    assert window.hit("a") is None  # still remembered


def test_memory_does_not_grow_with_the_limit() -> None:
    window = SlidingWindow(10**9, 3600.0, Clock())
    for _ in range(10_000):
        window.hit("t")
    assert len(window) == 1
    assert window.hit("t") == 10**9 - 10_001


@pytest.mark.parametrize(("limit", "window", "max_keys"), [(0, 1.0, 1), (1, 0.0, 1), (1, 1.0, 0)])
def test_nonsense_parameters_are_refused(limit: int, window: float, max_keys: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        SlidingWindow(limit, window, Clock(), max_keys)


@given(
    limit=st.integers(1, 20),
    steps=st.lists(st.floats(min_value=0.0, max_value=30.0), min_size=1, max_size=200),
)
def test_never_more_than_twice_the_limit_in_any_window(limit: int, steps: list[float]) -> None:
    """The estimate may admit up to the limit per fixed window; in any sliding window of the
    same length that is at most twice the limit, and never more within one fixed window."""
    clock = Clock(0.0)
    window = SlidingWindow(limit, 10.0, clock)
    admitted: list[float] = []
    for step in steps:
        clock.now += step
        if window.hit("t") is not None:
            admitted.append(clock.now)
    for start in admitted:
        inside = [t for t in admitted if start <= t < start + 10.0]
        assert len(inside) <= 2 * limit
    by_fixed_window: dict[int, int] = {}
    for t in admitted:
        by_fixed_window[int(t // 10.0)] = by_fixed_window.get(int(t // 10.0), 0) + 1
    assert max(by_fixed_window.values()) <= limit


class Shared:
    """The database of a test: the totals of every process per key and window."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}

    def __call__(self, index: int, batch: Sequence[NewCounts]) -> dict[str, tuple[int, int]]:
        for key, new_previous, new_current in batch:
            self.counts[key, index - 1] = self.counts.get((key, index - 1), 0) + new_previous
            self.counts[key, index] = self.counts.get((key, index), 0) + new_current
        return {
            key: (self.counts.get((key, index - 1), 0), self.counts.get((key, index), 0))
            for key, _, _ in batch
        }


def test_two_processes_decide_on_each_others_flushed_counts() -> None:
    clock, shared = Clock(6000.0), Shared()
    first = SlidingWindow(10, 60.0, clock, shared=True)
    second = SlidingWindow(10, 60.0, clock, shared=True)
    for _ in range(6):
        assert first.hit("t") is not None
    second.hit("t")
    assert first.flush(shared) == 1
    assert second.flush(shared) == 1  # learns the first's 6
    assert second.hit("t") == 2  # 6 + 1 + this one
    assert second.hit("t") == 1
    assert first.flush(shared) == 0  # nothing new on the first: nothing sent, nothing learnt
    second.flush(shared)
    first.hit("t")  # the 10th: the first still thinks it is the 8th (it learns at its flush)
    first.flush(shared)
    assert first.hit("t") is None
    assert second.hit("t") == 0  # as far as it knows, 9 so far
    second.flush(shared)
    assert second.hit("t") is None
    assert shared.counts["t", 100] == 11  # one flush interval's worth over the limit
    # 60 s to the next window, then 11 * (1 - 11/60) <= 9: as it knows them, the others' too
    assert second.reset_in("t") == 71

    clock.now += 60.0  # the next window: the others' counts weigh as the previous one
    assert first.hit("t") is None
    assert second.hit("t") is None


def test_a_failed_flush_leaves_the_counts_to_the_next() -> None:
    clock, shared = Clock(6000.0), Shared()
    window = SlidingWindow(10, 60.0, clock, shared=True)
    window.hit("t")
    window.hit("t")

    def broken(index: int, batch: Sequence[NewCounts]) -> dict[str, tuple[int, int]]:
        raise OSError("the database is away")

    with pytest.raises(OSError, match="away"):
        window.flush(broken)
    window.hit("t")
    assert window.flush(shared) == 1
    assert shared.counts["t", 100] == 3


def test_counts_of_the_window_before_a_turn_are_sent_as_the_previous_ones() -> None:
    clock, shared = Clock(6050.0), Shared()
    window = SlidingWindow(10, 60.0, clock, shared=True)
    for _ in range(4):
        window.hit("t")
    clock.now += 20.0  # a new window before the flush
    window.hit("t")
    window.flush(shared)
    assert (shared.counts["t", 100], shared.counts["t", 101]) == (4, 1)


def test_a_window_that_is_not_shared_refuses_to_flush() -> None:
    with pytest.raises(ValueError, match="not shared"):
        SlidingWindow(1, 60.0, Clock()).flush(Shared())


def test_the_keys_waiting_for_a_flush_are_bounded_like_the_table() -> None:
    """Should nothing flush (an app that is not serving), the keys to send do not grow past
    ``max_keys`` either."""
    window = SlidingWindow(5, 60.0, Clock(), max_keys=2, shared=True)
    for n in range(1000):
        window.hit(f"t{n}")
    assert len(window._unsent or ()) == 2
    assert window.flush(Shared()) <= 2


def test_a_clock_reading_older_than_the_keys_window_never_rolls_it_back() -> None:
    """Readings arrive out of order (the clock is read before the lock; a wall clock steps
    back): a key already in the next window keeps that window, its counts and what was sent."""
    clock, shared = Clock(6050.0), Shared()  # window 100
    window = SlidingWindow(5, 60.0, clock, shared=True)
    for _ in range(3):
        assert window.hit("t") is not None
    clock.now = 6070.0  # window 101: the three weigh as the previous one
    window.hit("t")
    window.flush(shared)
    assert (shared.counts["t", 100], shared.counts["t", 101]) == (3, 1)
    clock.now = 6055.0  # a late reading of window 100
    assert window.hit("t") is not None  # counted in window 101, the three still weigh
    assert window.exceeded("t")  # 3 + 2 of 5, read at the start of window 101
    assert window.hit("t") is None
    assert window.reset_in("t") > 0
    clock.now = 6070.0
    assert window.flush(shared) == 1
    # Only the new hit is sent, in window 101; nothing sent twice, nothing lost.
    assert (shared.counts["t", 100], shared.counts["t", 101]) == (3, 2)


def test_a_flush_with_an_older_reading_leaves_newer_windows_to_the_next_flush() -> None:
    clock, shared = Clock(6050.0), Shared()
    window = SlidingWindow(5, 60.0, clock, shared=True)
    window.hit("t")
    clock.now = 6070.0
    window.hit("t")  # window 101
    clock.now = 6055.0  # the flush read the clock before that hit
    assert window.flush(shared) == 0
    clock.now = 6071.0
    assert window.flush(shared) == 1
    assert (shared.counts["t", 100], shared.counts["t", 101]) == (1, 1)
