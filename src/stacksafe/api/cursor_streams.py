"""A serving process's streams over the audit log with durable cursors (the audit sinks, the
webhooks): one delivery loop (core.streams.delivery) per row of their table, started and
stopped with the API app (api.app's lifespan), following the table.

Every ``refresh`` seconds the rows are read again: a row added gets a loop, a removed one's
loop ends (it sees its row gone), a row whose options changed (removed and added again under
its name) gets a new loop. Paused rows keep their loop, which waits. Every server process runs
loops for every row; the rows' leases let one of them deliver each.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

from stacksafe.api.background import Background
from stacksafe.core.installation import Installation
from stacksafe.core.streams.delivery import DeliveryLoop, Tuning
from stacksafe.errors import InvalidInput

__all__ = ["DEFAULT_REFRESH_SECONDS", "STOP_SECONDS", "CursorStreams"]

log = logging.getLogger(__name__)

DEFAULT_REFRESH_SECONDS = 5.0
STOP_SECONDS = 5.0  # how long a shutdown waits for all the loops together

Row = TypeVar("Row")


class CursorStreams(Background, Generic[Row]):
    """A daemon thread that keeps one ``DeliveryLoop`` running per deliverable row."""

    kind = "stream"  # for the log: "audit sink", "webhook"

    def __init__(
        self,
        installation: Installation,
        *,
        refresh: float = DEFAULT_REFRESH_SECONDS,
        tuning: Tuning | None = None,
    ) -> None:
        self.installation, self.refresh, self.tuning = installation, refresh, tuning
        # By a key that changes when the row's options do: a row added again is another.
        self.loops: dict[Hashable, DeliveryLoop] = {}
        self._ending: list[DeliveryLoop] = []  # told to end (their row gone), not yet ended
        self._refused: set[Hashable] = set()  # rows that could not be opened, error recorded
        super().__init__(f"{self.kind.replace(' ', '-')}s", self._run)

    @abstractmethod
    def wanted(self) -> Mapping[Hashable, Row]:
        """The rows to deliver now, by their key."""

    @abstractmethod
    def open(self, row: Row) -> DeliveryLoop:
        """A (not yet started) loop delivering ``row``; raises if it cannot be opened."""

    @abstractmethod
    def name_of(self, row: Row) -> str: ...

    def stop(self) -> None:
        super().stop()
        # Every loop is told first, then all are waited for against one deadline: stalled
        # sinks' loops (each inside a delivery bounded only by its own timeout) would otherwise
        # hold the shutdown STOP_SECONDS each, one after another.
        loops = [*self.loops.values(), *self._ending]
        for loop in loops:
            loop.signal()
        deadline = time.monotonic() + STOP_SECONDS
        for loop in loops:
            loop.stop(timeout=max(0.0, deadline - time.monotonic()))
        self.loops.clear()
        self._ending.clear()

    def _run(self) -> None:
        while True:
            try:
                self.sync()
            except Exception as exc:  # the database may be away for a while: look again later
                log.warning("%ss: reading them failed (%s)", self.kind, type(exc).__name__)
            if self._stop.wait(self.refresh):
                return

    def sync(self) -> None:
        """Start the loops of new rows, tell the loops of gone rows to end. An ending loop is
        not waited for here (one stalled in a delivery would hold every other row's loop): it is
        looked at again at the next sync, and its lease released once it has ended."""
        for loop in list(self._ending):
            if not loop.alive:
                loop.stop(timeout=0)  # releases its lease, closes its sink
                self._ending.remove(loop)
        wanted = self.wanted()
        for key, loop in list(self.loops.items()):
            if key not in wanted or not loop.alive:
                loop.signal()
                self._ending.append(loop)
                del self.loops[key]
        for key, row in wanted.items():
            if key in self.loops or self._stop.is_set():
                continue
            try:
                loop = self.open(row)
            except Exception as exc:  # one bad row does not stop the others
                self._unopened(key, row, exc)
                continue
            self._refused.discard(key)
            loop.start()
            self.loops[key] = loop

    def _unopened(self, key: Hashable, row: Row, exc: Exception) -> None:
        name = self.name_of(row)
        log.warning("%s %s cannot be opened (%s)", self.kind, name, type(exc).__name__)
        if key in self._refused:
            return  # said already (once per row and settings, not every refresh)
        # An InvalidInput names the setting refused, never its value; anything else (a sealed
        # credential altered) only by its type.
        why = str(exc) if isinstance(exc, InvalidInput) else type(exc).__name__
        try:
            self.record_unopened(row, f"this server cannot open it: {why}")
        except Exception as failed:  # the database away: said at the next refresh
            log.warning("%s %s: error not recorded (%s)", self.kind, name, type(failed).__name__)
            return
        self._refused.add(key)

    @abstractmethod
    def record_unopened(self, row: Row, message: str) -> None:
        """Record ``message`` as ``row``'s last error (its status then says failing)."""
