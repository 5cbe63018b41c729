"""What a sink is to the delivery loop: something that takes a batch of encoded audit lines
and either has them durably (returns) or says it could not (``SinkUnavailable``).

Delivery is at least once: the loop moves a sink's cursor only after ``deliver`` returned, so a
crash between the two sends the batch again, and receivers de-duplicate by ``seq``. A sink
bounds every wait it makes (connect, write, read) by its own timeouts: the loop that calls it
is the sink's own thread, and a sink that never answers must fail its batch, not hang.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["Sink", "SinkUnavailable"]


class SinkUnavailable(Exception):
    """The batch was not delivered; the message says why in one line, without any event's
    content (it goes to the server log and to ``audit sinks status``). ``retry_after``: the
    receiver asked for a pause (seconds, HTTP ``Retry-After``), else the loop backs off on its
    own."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class Sink(Protocol):
    """A destination of the audit stream. ``lines``: one event each, UTF-8 JSON without a
    trailing newline, in sequence order (core.streams.lines makes them)."""

    def deliver(self, lines: Sequence[bytes]) -> None:
        """Hand the batch over, all of it or (raising ``SinkUnavailable``) none counted."""
        ...

    def close(self) -> None:
        """Release connections and files; the sink may be opened again later."""
        ...
