"""Which class delivers a sink of each type: a factory from its ``SinkConfig``.

A type without a factory here (a transport not built into this server) is stored and listed,
and ``audit sinks status`` says "transport not available" for it; nothing delivers it, so its
cursor stays where it is and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable

from stacksafe.core.streams.config import SinkConfig
from stacksafe.core.streams.file_sink import FileSink
from stacksafe.core.streams.sink import Sink

__all__ = ["FACTORIES", "NOT_AVAILABLE", "SinkFactory"]

SinkFactory = Callable[[SinkConfig], Sink]

FACTORIES: dict[str, SinkFactory] = {
    "file": FileSink.from_config,
}

NOT_AVAILABLE = "transport not available"
