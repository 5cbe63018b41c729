"""The audit streams of a serving process: one delivery loop per sink (core.streams.delivery),
started and stopped with the API app (api.app's lifespan), following the sinks table.

Every ``refresh`` seconds the table is read again: a sink added gets a loop, a removed one's
loop ends (it sees the row gone), a sink whose options changed (removed and added again under
its name) gets a new loop. Paused sinks keep their loop, which waits. Every server process runs
loops for every sink; the sinks' leases let one of them deliver each.
"""

from __future__ import annotations

import logging

from stacksafe.api.background import Background
from stacksafe.core.installation import Installation
from stacksafe.core.streams.config import open_config
from stacksafe.core.streams.delivery import DeliveryLoop, Tuning
from stacksafe.core.streams.sinks import stored_sinks
from stacksafe.core.streams.types import FACTORIES

__all__ = ["AuditStreams"]

log = logging.getLogger(__name__)

DEFAULT_REFRESH_SECONDS = 5.0


class AuditStreams(Background):
    """A daemon thread that keeps one ``DeliveryLoop`` running per deliverable sink."""

    def __init__(
        self,
        installation: Installation,
        *,
        refresh: float = DEFAULT_REFRESH_SECONDS,
        tuning: Tuning | None = None,
    ) -> None:
        self.installation, self.refresh, self.tuning = installation, refresh, tuning
        # By (sink id, type, options as stored): a sink added again under its name is another.
        self.loops: dict[tuple[int, str, str, bytes | None], DeliveryLoop] = {}
        super().__init__("audit-streams", self._run)

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
                log.warning("audit streams: reading the sinks failed (%s)", type(exc).__name__)
            if self._stop.wait(self.refresh):
                return

    def sync(self) -> None:
        """Start the loops of new sinks, forget the ended ones."""
        wanted = {
            (s.id, s.type, s.config, s.sealed): s
            for s in stored_sinks(self.installation)
            if s.type in FACTORIES
        }
        for key, loop in list(self.loops.items()):
            if key not in wanted or not loop.alive:
                loop.stop(timeout=5)
                del self.loops[key]
        for key, stored in wanted.items():
            if key in self.loops or self._stop.is_set():
                continue
            try:
                config = open_config(
                    self.installation, stored.name, stored.type, stored.config, stored.sealed
                )
                sink = FACTORIES[stored.type](config)
            except Exception as exc:  # one bad sink does not stop the others
                log.warning("audit sink %s cannot be opened (%s)", stored.name, type(exc).__name__)
                continue
            loop = DeliveryLoop(
                self.installation, stored.id, sink, tuning=self.tuning, name=stored.name
            )
            loop.start()
            self.loops[key] = loop
