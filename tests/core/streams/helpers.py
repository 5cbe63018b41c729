"""Shared by the audit-stream tests: events appended, and the lines a sink would get."""

from __future__ import annotations

import time
from collections.abc import Callable

from stacksafe.core.audit import append
from stacksafe.core.installation import Installation
from stacksafe.core.streams.lines import LineEncoder
from stacksafe.store import audit as queries
from tests.actors import LOCAL

__all__ = ["appended", "stream_lines", "until"]


def appended(installation: Installation, count: int, action: str = "test.event") -> list[int]:
    return [append(installation, LOCAL, action, detail={"n": n}) for n in range(count)]


def stream_lines(installation: Installation) -> list[bytes]:
    """Every event of the log as its stream line, in order."""
    encoder = LineEncoder.of(installation)
    with installation.store.read() as conn:
        events = list(queries.iter_events(conn))
    lines, previous = [], None
    for event in events:
        lines.append(encoder.encode(event, previous))
        previous = event.hash
    return lines


def until(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    """A bounded poll: ``condition`` within ``seconds``, else a failure naming ``what``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.01)
