"""The delivery loop of one sink: a thread of the serving process that streams the audit log
from the sink's durable cursor, in order, at least once, and never touches a request's path.

Each step: take (or renew) the sink's lease (one server process delivers a sink at a time; a
lease not renewed expires and another takes it over), read the events after the cursor (at most
``batch_events`` and about ``batch_bytes``: bounded memory however far behind the sink is),
encode them (core.streams.lines), hand them to the sink, then move the cursor from the value
read to the batch's last sequence if nobody moved it meanwhile (compare-and-set on the cursor
alone: a delivery slower than its lease still counts, and a server that delivered the same batch
moves nothing). A sink that fails is retried with exponential backoff (1 s doubling
to 5 min, with jitter, or the pause the receiver asked for); nothing is skipped. A crash between
a delivery and its cursor's move sends the batch again: receivers de-duplicate by ``seq``.

The loop is the same for every stream with a durable cursor over the audit log: what it
delivers is a ``Batcher``'s (``AuditLines``: every event as its signed line, for the audit
sinks; core.webhooks.events: the changes of one level, for a webhook), and where its cursor,
lease and pause live a ``CursorTable``'s (store.cursors: the audit sinks' rows, the webhooks').
A batch whose events are none of the receiver's moves the cursor past them without delivering.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Protocol

from stacksafe.core.audit_chain import GENESIS
from stacksafe.core.installation import Installation
from stacksafe.core.streams.lines import BrokenChain, LineEncoder
from stacksafe.core.streams.sink import Sink, SinkUnavailable
from stacksafe.store import Connection
from stacksafe.store import audit as audit_queries
from stacksafe.store.audit_sinks import CURSORS
from stacksafe.store.cursors import CursorState, CursorTable

__all__ = [
    "AuditLines",
    "Batcher",
    "DeliveryLoop",
    "Step",
    "Tuning",
    "delivery_state",
    "holder_name",
    "record_unopened",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tuning:
    batch_events: int = 500
    batch_bytes: int = 1024 * 1024
    idle_seconds: float = 1.0  # how often an idle (caught-up, paused, leased-out) loop looks
    lease_seconds: float = 30.0
    backoff_first: float = 1.0
    backoff_max: float = 300.0
    # How long a last error is shown after it happened even if batches go through meanwhile:
    # a syslog receiver that keeps timing out takes each new connection's first batches into
    # kernel buffers, and clearing the error on each would show it healthy most of the time.
    error_hold_seconds: float = 60.0


class Step(Enum):
    DELIVERED = "delivered"
    SKIPPED = "skipped"  # events read, none for this receiver: the cursor moved past them
    IDLE = "idle"  # caught up
    PAUSED = "paused"
    LEASED_OUT = "leased out"  # another server process delivers it
    FAILED = "failed"
    REMOVED = "removed"


class Batcher(Protocol):
    """What a stream delivers after a cursor."""

    def batch(self, cursor: int) -> tuple[list[bytes], int]:
        """The items after ``cursor`` (bounded, in sequence order), and the sequence the cursor
        moves to once they are delivered: the last event read, which may be after the last
        item (events not for this receiver are passed over). ``([], cursor)``: caught up.
        ``BrokenChain`` when an event read does not match the audit chain."""
        ...

    def moved(self, cursor: int | None) -> None:
        """The loop moved the cursor to ``cursor`` after the last batch (None: it did not, or
        something else moved it)."""
        ...


class AuditLines:
    """The audit sinks' batches: every event as its signed stream line (core.streams.lines),
    linked to the one before (the hash of the last event delivered is kept, not read again)."""

    def __init__(self, installation: Installation, tuning: Tuning) -> None:
        self.installation, self.tuning = installation, tuning
        self._encoder = LineEncoder.of(installation)
        self._previous: tuple[int, bytes] | None = None  # (seq, hash) last delivered
        self._last: tuple[int, bytes] | None = None  # (seq, hash) of the last batch

    def batch(self, cursor: int) -> tuple[list[bytes], int]:
        tuning = self.tuning
        with self.installation.store.read() as conn:
            events = audit_queries.events_after(
                conn, cursor, tuning.batch_events, tuning.batch_bytes
            )
            previous: bytes | None = None
            if self._previous is not None and self._previous[0] == cursor:
                previous = self._previous[1]
            elif cursor == 0:
                previous = GENESIS
            elif events:
                previous = audit_queries.event_hash(conn, cursor)
        lines: list[bytes] = []
        size = 0
        last = (cursor, previous or b"")
        for event in events:
            line = self._encoder.encode(event, previous)
            if lines and size + len(line) > tuning.batch_bytes:
                break
            lines.append(line)
            size += len(line) + 1
            previous = event.hash
            last = (event.seq, event.hash)
        self._last = last
        return lines, last[0]

    def moved(self, cursor: int | None) -> None:
        last = self._last
        self._previous = last if last is not None and cursor == last[0] else None


def delivery_state(paused: bool, last_error: str | None) -> str:
    """How a stream's delivery stands, as its status shows it: paused, failing (an attempt
    failed; cleared by the first delivery at least ``Tuning.error_hold_seconds`` after the last
    failure) or delivering."""
    if paused:
        return "paused"
    return "delivering" if last_error is None else "failing"


def record_unopened(
    installation: Installation, row_id: int, message: str, cursors: CursorTable = CURSORS
) -> None:
    """A stream this server cannot open (its stored settings refused by its sink, a sealed
    credential altered) says so in its last error: its status is "failing", not "delivering"
    while nothing delivers it."""
    installation.store.transact(
        lambda conn: cursors.record_error(conn, row_id, None, message, installation.clock()),
        "recording a stream that cannot be opened",
    )


def holder_name() -> str:
    """Who holds a lease: this host and process, and a random part (a process restarted with
    the same pid is another holder)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


class DeliveryLoop:
    """Delivers one stream until stopped or its row is gone (a daemon thread). By default an
    audit sink's: ``sink_id`` a row of ``audit_sinks``, the batches ``AuditLines``; a webhook
    gives its own ``cursors``, ``batcher`` and ``kind``."""

    def __init__(
        self,
        installation: Installation,
        sink_id: int,
        sink: Sink,
        *,
        tuning: Tuning | None = None,
        holder: str | None = None,
        name: str = "",
        cursors: CursorTable = CURSORS,
        batcher: Batcher | None = None,
        kind: str = "audit sink",
    ) -> None:
        self.installation, self.sink_id, self.sink = installation, sink_id, sink
        self.tuning = tuning or Tuning()
        self.holder = holder or holder_name()
        self.name = name
        self.failures = 0
        self.cursors, self.kind = cursors, kind
        self.batcher = batcher or AuditLines(installation, self.tuning)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"{kind.replace(' ', '-')}-{name or sink_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def signal(self) -> None:
        """Ask the loop to end after the step under way, without waiting for it (``stop``
        then waits: many loops are signalled first and joined against one deadline)."""
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the step under way; a sink stalled inside ``deliver`` is left to its own
        timeouts (its thread is a daemon) and its lease expires."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if not self._thread.is_alive():
            self._release()
            self.sink.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                step, wait = self.step()
            except Exception as exc:  # the loop outlives a database outage
                # The type only: a driver's message may quote a statement's parameters.
                log.warning("%s %s: step failed (%s)", self.kind, self.name, type(exc).__name__)
                self.failures += 1
                step, wait = Step.FAILED, self._backoff(None)
            if step is Step.REMOVED:
                self.sink.close()
                return
            if wait > 0:
                self._stop.wait(wait)

    def step(self) -> tuple[Step, float]:
        """One step of the loop, and how long to wait before the next."""
        tuning = self.tuning
        now = self.installation.clock()
        until = now + timedelta(seconds=tuning.lease_seconds)

        cursors = self.cursors

        def lease(conn: Connection) -> tuple[CursorState | None, bool]:
            found = cursors.state(conn, self.sink_id)
            if found is None:
                return None, False
            if found.paused:
                cursors.release_lease(conn, self.sink_id, self.holder)
                return found, False
            return found, cursors.take_lease(conn, self.sink_id, self.holder, now, until)

        found, held = self.installation.store.transact(lease, f"taking a {self.kind}'s lease")
        if found is None:
            return Step.REMOVED, 0
        if found.paused:
            return Step.PAUSED, tuning.idle_seconds
        if not held:
            return Step.LEASED_OUT, tuning.idle_seconds
        try:
            lines, last = self.batcher.batch(found.cursor)
        except BrokenChain as exc:
            self._record(exc.message)
            return Step.FAILED, self._backoff(None)
        if not lines and last == found.cursor:
            return self._idle(found.cursor)
        if not lines:
            moved = self._move(found.cursor, last, delivered=False)
            self.batcher.moved(last if moved else None)
            return Step.SKIPPED, 0
        try:
            self.sink.deliver(lines)
        except SinkUnavailable as exc:
            self._record(exc.message)
            return Step.FAILED, self._backoff(exc.retry_after)
        except Exception as exc:  # a sink's bug: the batch is not counted, retried later
            self._record(f"the sink failed ({type(exc).__name__})")
            return Step.FAILED, self._backoff(None)
        self.failures = 0
        moved = self._move(found.cursor, last)
        self.batcher.moved(last if moved else None)
        return Step.DELIVERED, 0

    def _move(self, old: int, new: int, *, delivered: bool = True) -> bool:
        """The cursor from ``old`` to ``new`` unless it moved meanwhile (compare-and-set)."""
        now = self.installation.clock()
        until = now + timedelta(seconds=self.tuning.lease_seconds)
        errors_before = now - timedelta(seconds=self.tuning.error_hold_seconds)
        return self.installation.store.transact(
            lambda conn: self.cursors.advance_cursor(
                conn,
                self.sink_id,
                self.holder,
                old,
                new,
                now,
                until,
                delivered=delivered,
                errors_before=errors_before,
            ),
            f"moving a {self.kind}'s cursor",
        )

    def _idle(self, cursor: int) -> tuple[Step, float]:
        """Caught up, unless the log is now behind the cursor (a backup restored, a rollback):
        then streaming goes on after the log's head, and the receiver sees those sequences
        again with other content, which is what happened."""
        with self.installation.store.read() as conn:
            head = audit_queries.read_head(conn)
        top = 0 if head is None else head[0]
        if top < cursor:
            self._move(cursor, top)  # clears the last error: recorded after
            self._record(
                f"the audit log ends at event {top}, behind this sink's cursor {cursor} (restored "
                "or rolled back): streaming goes on from there"
            )
            self.batcher.moved(None)
        return Step.IDLE, self.tuning.idle_seconds

    def _record(self, message: str) -> None:
        self.failures += 1
        log.warning("%s %s: %s", self.kind, self.name, message)
        self.installation.store.transact(
            lambda conn: self.cursors.record_error(
                conn, self.sink_id, self.holder, message, self.installation.clock()
            ),
            f"recording a {self.kind}'s error",
        )

    def _backoff(self, retry_after: float | None) -> float:
        tuning = self.tuning
        if retry_after is not None and retry_after > 0:
            return min(retry_after, tuning.backoff_max)
        exponent = max(0, self.failures - 1)
        ceiling = min(tuning.backoff_max, tuning.backoff_first * 2.0 ** min(exponent, 30))
        # "Equal jitter": at least half the ceiling, so failing sinks of many servers spread.
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - not a secret

    def _release(self) -> None:
        try:
            self.installation.store.transact(
                lambda conn: self.cursors.release_lease(conn, self.sink_id, self.holder),
                f"releasing a {self.kind}'s lease",
            )
        except Exception as exc:  # shutting down: the lease expires on its own
            log.warning("%s %s: lease not released (%s)", self.kind, self.name, type(exc).__name__)
