"""Pausing this process's coverage measurement for a stretch that runs none of stacksafe's code.

Coverage's tracer (coverage.py's C tracer on Python 3.11) is called for every line and call of
every Python function in the process, measured or not: the code of the libraries a test drives
runs several times slower under it (bench/README.md, "Figures the code's comments rely on").
A test whose own process only generates requests for servers running in processes of their own
(which measure themselves) pays that for nothing; it pauses the measurement around that part.
Nothing of stacksafe may run in the paused stretch: its lines would go unmeasured.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import coverage

__all__ = ["untraced"]


@contextmanager
def untraced() -> Iterator[None]:
    """This process's coverage measurement paused while the block runs (none running: no-op)."""
    measuring = coverage.Coverage.current()
    if measuring is None:
        yield
        return
    measuring.stop()
    try:
        yield
    finally:
        measuring.start()
