"""What `secrets import` shows while and after it writes: a progress bar on a terminal, then a
one-line summary (``added 5, changed 0, unchanged 4,995``) or, as JSON, every key by outcome.

Key names are not listed in the summary: an import of thousands of keys printed them all on one
line. The bar goes to stderr and only when stderr is a terminal, so pipes and scripts see the
summary (or the JSON) on stdout and nothing else.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the SDK's models: what a local import reports needs none of them loaded
    from stacksafe.client import ImportReport

__all__ = ["import_progress", "report_json", "summary"]

Progress = Callable[[int, int], None]


def summary(report: ImportReport) -> str:
    """``added 5, changed 0, unchanged 4,995``."""
    counts = (("added", report.added), ("changed", report.changed), ("unchanged", report.unchanged))
    return ", ".join(f"{label} {len(keys):,}" for label, keys in counts)


def report_json(report: ImportReport) -> dict[str, object]:
    return {
        "added": list(report.added),
        "changed": list(report.changed),
        "unchanged": list(report.unchanged),
        "counts": {
            "added": len(report.added),
            "changed": len(report.changed),
            "unchanged": len(report.unchanged),
        },
    }


@contextmanager
def import_progress(total: int) -> Iterator[Progress | None]:
    """A transient progress bar of ``total`` keys on stderr, fed by the callback yielded (None
    when stderr is not a terminal). Until the first call it pulses: a remote import is one
    request and never calls it, a local one reads the level before its first batch."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console  # only on a terminal: Rich costs start-up time
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn("importing {task.fields[keys]} keys"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("import", total=None, keys=f"{total:,}")

        def advance(done: int, of: int) -> None:
            bar.update(task, completed=done, total=of)

        yield advance
