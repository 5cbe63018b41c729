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
from abc import abstractmethod
from collections.abc import Hashable, Mapping
from typing import Generic, TypeVar

from stacksafe.api.background import Background
from stacksafe.core.installation import Installation
from stacksafe.core.streams.delivery import DeliveryLoop, Tuning

__all__ = ["DEFAULT_REFRESH_SECONDS", "CursorStreams"]

log = logging.getLogger(__name__)

DEFAULT_REFRESH_SECONDS = 5.0

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
        for loop in self.loops.values():
            loop.stop(timeout=5)
        self.loops.clear()

    def _run(self) -> None:
        while True:
            try:
                self.sync()
            except Exception as exc:  # the database may be away for a while: look again later
                log.warning("%ss: reading them failed (%s)", self.kind, type(exc).__name__)
            if self._stop.wait(self.refresh):
                return

    def sync(self) -> None:
        """Start the loops of new rows, forget the ended ones."""
        wanted = self.wanted()
        for key, loop in list(self.loops.items()):
            if key not in wanted or not loop.alive:
                loop.stop(timeout=5)
                del self.loops[key]
        for key, row in wanted.items():
            if key in self.loops or self._stop.is_set():
                continue
            try:
                loop = self.open(row)
            except Exception as exc:  # one bad row does not stop the others
                name = self.name_of(row)
                log.warning("%s %s cannot be opened (%s)", self.kind, name, type(exc).__name__)
                continue
            loop.start()
            self.loops[key] = loop
