"""The audit streams of a serving process: one delivery loop per sink (api.cursor_streams over
the sinks table); a sink whose type this server cannot deliver is left alone (its cursor stays).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from stacksafe.api.cursor_streams import CursorStreams
from stacksafe.core.streams.config import open_config
from stacksafe.core.streams.delivery import DeliveryLoop, record_unopened
from stacksafe.core.streams.sinks import StoredSink, stored_sinks
from stacksafe.core.streams.types import FACTORIES

__all__ = ["AuditStreams"]


class AuditStreams(CursorStreams[StoredSink]):
    """A daemon thread that keeps one ``DeliveryLoop`` running per deliverable sink."""

    kind = "audit sink"

    def wanted(self) -> Mapping[Hashable, StoredSink]:
        # By (sink id, type, options as stored): a sink added again under its name is another.
        return {
            (s.id, s.type, s.config, s.sealed): s
            for s in stored_sinks(self.installation)
            if s.type in FACTORIES
        }

    def open(self, row: StoredSink) -> DeliveryLoop:
        config = open_config(self.installation, row.name, row.type, row.config, row.sealed)
        sink = FACTORIES[row.type](config, self.installation.outbound)
        return DeliveryLoop(self.installation, row.id, sink, tuning=self.tuning, name=row.name)

    def name_of(self, row: StoredSink) -> str:
        return row.name

    def record_unopened(self, row: StoredSink, message: str) -> None:
        record_unopened(self.installation, row.id, message)
