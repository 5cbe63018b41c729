"""core.streams.delivery: a sink's loop streams the log from its cursor, in order, at least
once; a failing sink is retried and loses nothing; pausing stops it; a stalled sink holds only
its own thread (a reveal goes through); one lease holder at a time, taken over on expiry."""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import update

from stacksafe.core.audit import append
from stacksafe.core.installation import Installation
from stacksafe.core.secrets import list_secrets, set_secret
from stacksafe.core.streams.config import SinkOptions
from stacksafe.core.streams.delivery import AuditLines, DeliveryLoop, Step, Tuning
from stacksafe.core.streams.file_sink import FileSink
from stacksafe.core.streams.lines import installation_verifier
from stacksafe.core.streams.sink import SinkUnavailable
from stacksafe.core.streams.sinks import add_sink, set_paused, sink_statuses
from stacksafe.core.streams.verify import verify_stream
from stacksafe.core.tenancy import Target
from stacksafe.model import SecretValue
from stacksafe.store.audit_sinks import CURSORS, StoredSink
from stacksafe.store.cursors import CursorState
from stacksafe.store.stream_tables import audit_sinks
from tests.actors import LOCAL
from tests.core.streams.helpers import appended, until

FAST = Tuning(
    idle_seconds=0.01, backoff_first=0.01, backoff_max=0.05, batch_events=7, error_hold_seconds=0
)


def _file_sink(installation: Installation, tmp_path: Path, name: str = "siem") -> tuple[int, Path]:
    path = tmp_path / f"{name}.jsonl"
    stored, _ = add_sink(installation, LOCAL, name, "file", SinkOptions(path=path))
    return stored.id, path


def _unused_sink(
    installation: Installation, tmp_path: Path, name: str
) -> tuple[StoredSink, list[str]]:
    """A sink row for a loop given a sink of the test's own (its file is never written)."""
    return add_sink(installation, LOCAL, name, "file", SinkOptions(path=tmp_path / "unused"))


def _status(installation: Installation, name: str = "siem") -> tuple[int, int]:
    found = {s.name: s for s in sink_statuses(installation)}[name]
    return found.cursor, found.lag


def _seqs(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [orjson.loads(line)["seq"] for line in path.read_bytes().splitlines()]


@pytest.fixture
def loops() -> Iterator[list[DeliveryLoop]]:
    started: list[DeliveryLoop] = []
    yield started
    for loop in started:
        loop.stop(timeout=5)


def test_the_whole_log_is_delivered_in_order_and_verifies(
    installation: Installation, tmp_path: Path, loops: list[DeliveryLoop]
) -> None:
    appended(installation, 20)
    sink_id, path = _file_sink(installation, tmp_path)
    loop = DeliveryLoop(installation, sink_id, FileSink(path), tuning=FAST)
    loops.append(loop)
    loop.start()
    appended(installation, 5)  # while it runs
    until(lambda: _status(installation)[1] == 0, "caught up")
    seqs = _seqs(path)
    assert seqs == list(range(1, seqs[-1] + 1))  # every event, in order, once
    assert verify_stream([path], installation_verifier(installation)).clean


def test_from_now_starts_at_the_head(installation: Installation, tmp_path: Path) -> None:
    appended(installation, 3)
    path = tmp_path / "later.jsonl"
    stored, _ = add_sink(
        installation, LOCAL, "later", "file", SinkOptions(path=path), from_now=True
    )
    first_new = appended(installation, 2)[0]
    loop = DeliveryLoop(installation, stored.id, FileSink(path), tuning=FAST)
    while loop.step()[0] is Step.DELIVERED:
        pass
    # Its own creation's event first (recorded after the head it starts at), then the new ones.
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [(e["seq"], e["action"]) for e in lines] == [
        (first_new - 1, "audit_sink.add"),
        (first_new, "test.event"),
        (first_new + 1, "test.event"),
    ]


class FlakySink:
    """Unavailable for its first ``failures`` batches (the last asking for a pause)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.batches: list[list[bytes]] = []

    def deliver(self, lines: Sequence[bytes]) -> None:
        if self.failures:
            self.failures -= 1
            raise SinkUnavailable("receiver down", retry_after=0.01 if not self.failures else None)
        self.batches.append(list(lines))

    def close(self) -> None:
        pass


def test_a_failing_sink_is_retried_and_loses_nothing(
    installation: Installation, tmp_path: Path
) -> None:
    appended(installation, 10)
    stored, _ = add_sink(
        installation, LOCAL, "flaky", "file", SinkOptions(path=tmp_path / "unused")
    )
    sink = FlakySink(failures=3)
    loop = DeliveryLoop(installation, stored.id, sink, tuning=FAST)
    outcomes = [loop.step() for _ in range(3)]
    assert [step for step, _ in outcomes] == [Step.FAILED] * 3
    assert outcomes[2][1] == 0.01  # the receiver's Retry-After
    assert 0.005 <= outcomes[1][1] <= 0.02  # backoff: 0.01 doubled, with jitter
    failing = {s.name: s for s in sink_statuses(installation)}["flaky"]
    assert (failing.state, failing.last_error, failing.cursor) == ("failing", "receiver down", 0)
    while loop.step()[0] is Step.DELIVERED:
        pass
    delivered = [orjson.loads(line)["seq"] for batch in sink.batches for line in batch]
    assert delivered == list(range(1, delivered[-1] + 1))
    assert all(len(batch) <= FAST.batch_events for batch in sink.batches)
    caught_up = {s.name: s for s in sink_statuses(installation)}["flaky"]
    assert (caught_up.state, caught_up.last_error, caught_up.lag) == ("delivering", None, 0)


def test_backoff_doubles_to_its_ceiling() -> None:
    loop = DeliveryLoop.__new__(DeliveryLoop)
    loop.tuning = Tuning(backoff_first=1.0, backoff_max=300.0)
    waits = []
    for failures in (1, 2, 3, 10, 50):
        loop.failures = failures
        waits.append(loop._backoff(None))
    ceilings = [1, 2, 4, 300, 300]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    assert loop._backoff(1000.0) == 300.0  # a receiver's pause is bounded too


class ThreadSteps(DeliveryLoop):
    """A loop that notes when a step taken by its own thread (not the test's) saw the pause."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.thread_saw_pause = threading.Event()

    def step(self) -> tuple[Step, float]:
        taken = super().step()
        if taken[0] is Step.PAUSED and threading.current_thread() is self._thread:
            self.thread_saw_pause.set()
        return taken


def test_pause_stops_delivery_and_resume_continues(
    installation: Installation, tmp_path: Path, loops: list[DeliveryLoop]
) -> None:
    sink_id, path = _file_sink(installation, tmp_path)
    loop = ThreadSteps(installation, sink_id, FileSink(path), tuning=FAST)
    loops.append(loop)
    loop.start()
    until(lambda: _status(installation)[1] == 0, "caught up")
    set_paused(installation, LOCAL, "siem", True)
    # A batch the thread took before the pause may still land; once the thread's own step has
    # seen the pause, nothing more does.
    until(lambda: loop.thread_saw_pause.is_set(), "paused")
    delivered = _seqs(path)
    appended(installation, 4)
    # Steps of its own besides the thread's: each waits, none delivers.
    assert {loop.step()[0] for _ in range(5)} == {Step.PAUSED}
    assert _seqs(path) == delivered
    assert _status(installation)[1] >= 4
    set_paused(installation, LOCAL, "siem", False)
    until(lambda: _status(installation)[1] == 0, "resumed and caught up")
    seqs = _seqs(path)
    assert seqs == list(range(1, seqs[-1] + 1))


class StalledSink:
    """A receiver that takes the batch and never answers (until the test lets it)."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def deliver(self, lines: Sequence[bytes]) -> None:
        self.entered.set()
        self.release.wait(30)

    def close(self) -> None:
        self.release.set()


def test_a_stalled_sink_does_not_delay_a_reveal(
    installation: Installation, stack_target: Target, loops: list[DeliveryLoop], tmp_path: Path
) -> None:
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("v"))
    stored, _ = add_sink(
        installation, LOCAL, "stuck", "file", SinkOptions(path=tmp_path / "unused")
    )
    sink = StalledSink()
    loop = DeliveryLoop(installation, stored.id, sink, tuning=FAST)
    loops.append(loop)
    loop.start()
    assert sink.entered.wait(10)
    started = time.monotonic()
    revealed = list_secrets(installation, LOCAL, stack_target, reveal=True)
    took = time.monotonic() - started
    assert not sink.release.is_set()  # still stalled while the reveal ran
    assert [s.key for s in revealed] == ["API_KEY"]
    assert took < 2.0  # a reveal takes milliseconds; the sink would hold it 30 s
    assert _status(installation, "stuck")[1] > 0  # the lag shows
    sink.release.set()


def test_one_lease_holder_delivers_and_another_takes_over_when_it_expires(
    installation: Installation, tmp_path: Path, loops: list[DeliveryLoop]
) -> None:
    appended(installation, 30)
    sink_id, path = _file_sink(installation, tmp_path)
    # Two servers' loops, each with its own file sink on the same file.
    both = [
        DeliveryLoop(installation, sink_id, FileSink(path), tuning=FAST, holder=f"server-{n}")
        for n in (1, 2)
    ]
    loops.extend(both)
    for loop in both:
        loop.start()
    appended(installation, 30)
    until(lambda: _status(installation)[1] == 0, "caught up")
    seqs = _seqs(path)
    assert seqs == list(range(1, seqs[-1] + 1))  # each event once: one holder at a time
    # The holder dies without releasing (SIGKILL): the other takes over once the lease expires.
    short = Tuning(idle_seconds=0.01, lease_seconds=0.3, batch_events=7)
    dead = DeliveryLoop(installation, sink_id, FileSink(path), tuning=short, holder="dead")
    for loop in both:
        loop.stop()
    assert dead.step()[0] is Step.IDLE  # it holds the lease now
    appended(installation, 3)
    heir = DeliveryLoop(installation, sink_id, FileSink(path), tuning=short, holder="heir")
    assert heir.step()[0] is Step.LEASED_OUT
    until(lambda: heir.step()[0] is Step.DELIVERED, "taken over")
    while heir.step()[0] is Step.DELIVERED:
        pass
    seqs = _seqs(path)
    assert seqs == list(range(1, seqs[-1] + 1))
    assert _status(installation)[1] == 0


def test_a_log_behind_the_cursor_is_said_and_streaming_goes_on_after_its_head(
    installation: Installation, tmp_path: Path
) -> None:
    sink_id, path = _file_sink(installation, tmp_path)
    loop = DeliveryLoop(installation, sink_id, FileSink(path), tuning=FAST)
    while loop.step()[0] is Step.DELIVERED:
        pass
    head = _status(installation)[0]
    # As after a backup restored: the sink's cursor names events the log no longer has.
    with installation.store.write() as conn:
        conn.execute(update(audit_sinks).values(cursor=head + 50))
    assert loop.step()[0] is Step.IDLE
    found = {s.name: s for s in sink_statuses(installation)}["siem"]
    assert found.cursor == head
    assert found.last_error is not None
    assert f"behind this sink's cursor {head + 50}" in found.last_error
    new = appended(installation, 2)
    while loop.step()[0] is Step.DELIVERED:
        pass
    assert _seqs(path)[-2:] == new


class _TakenOverWhileDelivering:
    """A sink slower than the lease: while it delivers, the lease expires and another server
    takes it (as that server's loop would), and is itself still delivering."""

    def __init__(self, installation: Installation, sink_id: int) -> None:
        self.installation, self.sink_id = installation, sink_id
        self.got: list[int] = []

    def deliver(self, lines: Sequence[bytes]) -> None:
        until(self._taken, "the lease taken over")
        self.got.extend(orjson.loads(line)["seq"] for line in lines)

    def _taken(self) -> bool:
        now = self.installation.clock()
        return self.installation.store.transact(
            lambda conn: CURSORS.take_lease(
                conn, self.sink_id, "other", now, now + timedelta(seconds=30)
            ),
            "taking the lease",
        )

    def close(self) -> None:
        pass


def test_a_delivery_slower_than_its_lease_still_moves_the_cursor(
    installation: Installation, tmp_path: Path
) -> None:
    """Else two servers each deliver the batch and neither may move the cursor: forever."""
    appended(installation, 5)
    stored, _ = _unused_sink(installation, tmp_path, "slow")
    sink = _TakenOverWhileDelivering(installation, stored.id)
    short = Tuning(lease_seconds=0.01, batch_events=3)
    loop = DeliveryLoop(installation, stored.id, sink, tuning=short, holder="slow-server")
    assert loop.step()[0] is Step.DELIVERED
    assert _status(installation, "slow")[0] == sink.got[-1] == 3  # moved from what it read
    # The other server, which delivered the same batch, moves nothing: its move is a no-op.
    with installation.store.write() as conn:
        assert not CURSORS.advance_cursor(
            conn, stored.id, "other", 0, 3, installation.clock(), installation.clock()
        )
        assert CURSORS.state(conn, stored.id) == CursorState(False, 3)


def test_a_batch_of_large_events_reads_only_what_fits_in_batch_bytes(
    installation: Installation,
) -> None:
    """Memory is bounded by batch_bytes, not batch_events x the largest detail."""
    for n in range(40):
        append(installation, LOCAL, "test.event", detail={"n": n, "pad": "k" * 100_000})
    batcher = AuditLines(installation, Tuning(batch_events=500, batch_bytes=64 * 1024))
    batcher.batch(40)  # caught up: what a first query allocates once (statement caches)
    tracemalloc.start()
    try:
        lines, last = batcher.batch(0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (len(lines), last) == (1, 1)  # at least one, however large
    # One event's copies (row, parsed, canonical, line) are about 1.7 MB; all 40 read were
    # 4 MB of details alone.
    assert peak < 3_000_000, peak
    lines, last = batcher.batch(1)
    assert (len(lines), last) == (1, 2)  # and the next one after it


def test_a_last_error_is_kept_a_while_after_it_happened_though_batches_go_through(
    installation: Installation, tmp_path: Path
) -> None:
    """A syslog receiver that keeps timing out takes each new connection's first batches into
    kernel buffers: clearing its error on each showed it healthy most of the time."""
    appended(installation, 6)
    stored, _ = _unused_sink(installation, tmp_path, "flaky")
    sink = FlakySink(failures=1)
    tuning = Tuning(batch_events=2, backoff_first=0.01, error_hold_seconds=60)
    loop = DeliveryLoop(installation, stored.id, sink, tuning=tuning)
    assert loop.step()[0] is Step.FAILED
    assert loop.step()[0] is Step.DELIVERED
    kept = {s.name: s for s in sink_statuses(installation)}["flaky"]
    assert (kept.state, kept.last_error, kept.cursor) == ("failing", "receiver down", 2)
    assert kept.last_delivered_at is not None  # shown beside the error
    # Once the error is older than the hold, the next delivery clears it.
    with installation.store.write() as conn:
        conn.execute(
            update(audit_sinks)
            .where(audit_sinks.c.id == stored.id)
            .values(last_error_at=installation.clock() - timedelta(seconds=61))
        )
    assert loop.step()[0] is Step.DELIVERED
    cleared = {s.name: s for s in sink_statuses(installation)}["flaky"]
    assert (cleared.state, cleared.last_error, cleared.cursor) == ("delivering", None, 4)
