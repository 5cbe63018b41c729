"""A process's CPU time from /proc: what a server spends per request, whatever the load.

Requests per second on a shared machine move with whatever else runs; the CPU time a server's
process spends per request moves much less. Linux counts it in clock ticks (``SC_CLK_TCK``,
usually 100 per second: 10 ms resolution, so a run should last seconds).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["cpu_ms", "total_ms"]

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid: int, thread: int | None = None) -> tuple[float, float]:
    """User and system milliseconds of ``pid`` (all its threads), or of one of its threads."""
    # Fields 14 and 15 of /proc/PID/stat (utime, stime), after the parenthesised command name;
    # /proc/PID/task/TID/stat for one thread (the main thread's TID is the PID).
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    fields = stat.read_text().rpartition(")")[2].split()
    return int(fields[11]) * 1000 / TICKS, int(fields[12]) * 1000 / TICKS


def total_ms(pids: Iterable[int]) -> dict[int, float]:
    """User + system milliseconds of each of ``pids`` still running (others are left out)."""
    found = {}
    for pid in pids:
        try:
            found[pid] = sum(cpu_ms(pid))
        except OSError:  # it exited meanwhile
            continue
    return found
