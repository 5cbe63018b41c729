"""One task on one server, measured: wrk's requests/s and the server's CPU per request.

A :class:`Target` is what to drive (a :class:`peer_wrk.Load` at a port), whose process to charge
(its pid, and for stacksafe on PostgreSQL the database's backends that serve it), and how to
check it: ``check`` before any timing (it answers exactly the data loaded), ``audit`` (its audit
log's count of requests: it must grow by wrk's count, plus at most the requests in flight when
wrk stopped, which wrk does not count, and its timeouts), and for a write task ``versions`` (the
written keys' versions, summed: they must grow as the audit log does) and ``read_back`` (every
written key now holds a value wrk wrote). A target that fails its check, or answers anything but
2xx under load, stops being measured; the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import api_bench
import peer_wrk
from proc_cpu import total_ms

__all__ = ["Run", "Target", "measure", "warm"]


@dataclass(frozen=True)
class Run:
    wrk: api_bench.WrkResult
    cpu_ms: float  # the server process's user + system time over the run
    db_cpu_ms: float | None  # its PostgreSQL backends' (None: no separate database process)
    audit_ok: bool | None  # None: the server keeps no audit log
    landed: str | None  # a write task: why its writes did not all land; None when they did

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_ms / self.wrk.requests

    @property
    def db_per_request(self) -> float | None:
        return None if self.db_cpu_ms is None else self.db_cpu_ms / self.wrk.requests


@dataclass
class Target:
    task: str
    server: str
    port: int
    pid: int
    load: peer_wrk.Load
    check: Callable[[], str | None]
    audit: Callable[[], int] | None = None
    versions: Callable[[], int] | None = None
    read_back: Callable[[], str | None] | None = None
    db_pids: Callable[[], list[int]] | None = None
    error: str | None = None
    runs: list[Run] = field(default_factory=list)


def _settled(count: Callable[[], int]) -> int:
    """The count once in-flight requests are done: two equal readings 0.3 s apart (bounded)."""
    last = count()
    for _ in range(30):
        time.sleep(0.3)
        now = count()
        if now == last:
            return now
        last = now
    return last


def _grew_by(grown: int, result: api_bench.WrkResult) -> bool:
    # wrk does not count requests in flight when it stops (up to one per connection) nor
    # timed-out ones; the server finishes them.
    return 0 <= grown - result.requests <= api_bench.WRK_CONNECTIONS + result.timeouts


def _db_cpu(target: Target) -> dict[int, float]:
    return total_ms(target.db_pids()) if target.db_pids else {}


def warm(target: Target, work: Path) -> None:
    """A short untimed run: the server's caches, its connection pool and the token are warm."""
    result = peer_wrk.run(target.port, target.load, 1, work / "warm.lua")
    if result.non_2xx:
        target.error = f"{result.non_2xx} of {result.requests} answers were not 2xx (warm-up)"


def measure(target: Target, duration: int, work: Path) -> None:
    """One timed run of ``target``, appended to its runs (or its error set)."""
    # The versions first: reading them is itself audited (a reveal, OpenBao's metadata reads).
    versions_before = target.versions() if target.versions else 0
    audit_before = _settled(target.audit) if target.audit else 0
    db_before = _db_cpu(target)
    cpu_before = sum(total_ms([target.pid]).values())
    result = peer_wrk.run(target.port, target.load, duration, work / "load.lua")
    cpu = sum(total_ms([target.pid]).values()) - cpu_before
    db_after = _db_cpu(target)
    if result.non_2xx or not result.requests:
        # Stop measuring it, but keep the others: a throttle or a crash is itself the finding.
        target.error = f"{result.non_2xx} of {result.requests} answers were not 2xx under load"
        return
    # A backend that started during the run counts from zero; one that ended is lost (rare:
    # the pool keeps its connections).
    db_cpu = (
        sum(ms - db_before.get(pid, 0.0) for pid, ms in db_after.items())
        if target.db_pids
        else None
    )
    audit_ok = None
    if target.audit:
        audit_ok = _grew_by(_settled(target.audit) - audit_before, result)
    landed = None
    if target.versions:
        try:
            grown = _settled(target.versions) - versions_before
            if not _grew_by(grown, result):
                landed = f"{grown} new versions for {result.requests} writes"
            elif target.read_back:
                landed = target.read_back()
        except RuntimeError as exc:  # the server did not answer the read back: the finding
            landed = str(exc)
    target.runs.append(Run(result, cpu, db_cpu, audit_ok, landed))
