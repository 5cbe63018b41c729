"""Scale-out on one PostgreSQL, measured as costs: what one request costs each tier, 1 vs 2 servers.

Issue 21's target 7. Two servers on one PostgreSQL cannot show throughput scaling on a 2-core
machine (both compete for the same cores, and so does the database), so this reports what a
capacity model needs instead: per request, the server's CPU, the database backends' CPU, the
statements the database ran (``pg_stat_statements``: its calls are the round trips, its
execution time the database's own cost) and the transactions it committed; with one server, and
with two servers on the same database each taking half the load.

Setup (untimed): a throwaway cluster of its own (tests/postgres.py) with ``pg_stat_statements``
preloaded, and the peer bench's installation on it (peer_setup.py: 200 effective secrets, a
``writes`` stack); a second ``stacksafe serve`` on the same data dir and database. Each task
(peer_tasks.py: the 200-secret fetch, one secret's reveal, one secret's write) is checked,
warmed up on every server, then driven by wrk for ``--duration`` seconds: 32 connections to the
one server, or 16 to each of the two at once; ``pg_stat_statements`` and ``pg_stat_database``
are read before and after (the bench's own queries run in another database and are left out).
After each run the audit log must have grown by the requests wrk counted (plus those in flight).

Reported per task and layout (medians over rounds): requests/s, server CPU ms per request (all
servers), database CPU ms per request (its backends), statements and commits per request, the
database's execution ms per request, and the statements that make up most of the calls. Rows
for ``make bench`` are information (no target): the capacity model in docs/operations.md
("Capacity") is written from them.

Run: ``.venv/bin/python bench/scale_out.py`` (about 2 min; needs ``wrk`` on PATH and the
PostgreSQL server binaries). ``--rounds`` (2), ``--duration`` (4 s).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# The repository root, for tests/postgres.py (the throwaway cluster the tests use too).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import api_bench
import peer_setup
import peer_wrk
from peer_targets import Target, warm
from peer_tasks import FETCH, SINGLE, WRITE, stacksafe_targets
from proc_cpu import total_ms
from results import emit
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool
from tests.postgres import Cluster, throwaway_cluster

TASKS = (FETCH, SINGLE, WRITE)
LAYOUTS = (1, 2)  # servers
DATABASE = "stacksafe_scale_out"


@dataclass(frozen=True)
class Costs:
    """One run: what the requests cost each tier, in total."""

    requests: int
    seconds: float
    server_ms: float
    db_ms: float
    statements: int
    exec_ms: float
    commits: int
    top: tuple[tuple[str, int], ...]  # the most called statements: (query, calls)

    def per(self, amount: float) -> float:
        return amount / self.requests


@dataclass
class Measured:
    runs: dict[tuple[str, int], list[Costs]] = field(default_factory=dict)


def _cluster(stack: ExitStack) -> tuple[Cluster, str]:
    """A cluster with pg_stat_statements loaded, and the URL of a database of the bench's."""
    cluster = stack.enter_context(throwaway_cluster())
    with closing(cluster.admin()) as conn:
        conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    cluster.stop()
    cluster.start()
    url = cluster.create_database(DATABASE)
    # The view lives in the `postgres` database, where the bench queries it from; it shows
    # every database's statements, and stacksafe's database holds nothing of the bench's.
    with closing(cluster.admin()) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
    return cluster, url


class Database:
    """The bench's view of the database: its statement counts and its backends' CPU."""

    def __init__(self, admin_url: str) -> None:
        # Queried from the `postgres` database, so the bench's own statements are not counted.
        self.admin: Engine = create_engine(admin_url, poolclass=NullPool)

    def statements(self) -> dict[str, tuple[int, float]]:
        with self.admin.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT s.query, s.calls, s.total_exec_time FROM pg_stat_statements s "
                    "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = :name"
                ),
                {"name": DATABASE},
            )
            found: dict[str, tuple[int, float]] = {}
            for query, calls, spent in rows:  # one text, several entries (parameter types differ)
                had = found.get(str(query), (0, 0.0))
                found[str(query)] = (had[0] + int(calls), had[1] + float(spent))
            return found

    def commits(self) -> int:
        with self.admin.connect() as conn:
            found = conn.execute(
                text("SELECT xact_commit FROM pg_stat_database WHERE datname = :name"),
                {"name": DATABASE},
            ).scalar()
            return int(found or 0)

    def backends(self) -> list[int]:
        return peer_setup.backend_pids(self.admin, DATABASE)

    def close(self) -> None:
        self.admin.dispose()


def _delta(
    before: dict[str, tuple[int, float]], after: dict[str, tuple[int, float]]
) -> dict[str, tuple[int, float]]:
    return {
        q: (calls - before.get(q, (0, 0.0))[0], spent - before.get(q, (0, 0.0))[1])
        for q, (calls, spent) in after.items()
        if calls > before.get(q, (0, 0.0))[0]
    }


def _drive(targets: Sequence[Target], duration: int, work: Path) -> int:
    """wrk against every target at once, the 32 connections shared out; requests counted."""
    connections = api_bench.WRK_CONNECTIONS // len(targets)
    counted: list[int] = []
    failures: list[str] = []

    def one(target: Target, index: int) -> None:
        result = peer_wrk.run(
            target.port, target.load, duration, work / f"scale-{index}.lua", connections
        )
        if result.non_2xx or result.timeouts:
            failures.append(f"{target.server}: {result.non_2xx} non-2xx, {result.timeouts} t/o")
        counted.append(result.requests)

    threads = [threading.Thread(target=one, args=(t, i)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        sys.exit(f"scale-out: a run had errors: {'; '.join(failures)}")
    return sum(counted)


def _settled_audit(target: Target) -> int:
    """The audit log's count once the requests wrk left in flight have landed."""
    assert target.audit is not None
    last, stable = target.audit(), 0
    while stable < 3:
        time.sleep(0.1)
        now = target.audit()
        stable = stable + 1 if now == last else 0
        last = now
    return last


def measure(targets: Sequence[Target], db: Database, duration: int, work: Path) -> Costs:
    servers = [t.pid for t in targets]
    audit_before = _settled_audit(targets[0])
    statements, commits = db.statements(), db.commits()
    backends = db.backends()
    cpu = total_ms(servers), total_ms(backends)
    started = time.perf_counter()
    requests = _drive(targets, duration, work)
    seconds = time.perf_counter() - started
    audit_grew = _settled_audit(targets[0]) - audit_before
    backends_after = set(backends) | set(db.backends())
    server_ms = sum(total_ms(servers).values()) - sum(cpu[0].values())
    db_after = total_ms(backends_after)
    db_ms = sum(ms - cpu[1].get(pid, 0.0) for pid, ms in db_after.items())
    ran = _delta(statements, db.statements())
    commits_now = db.commits()
    # Every request is audited; the bench's own count and settle reads add a few commits.
    if not requests <= audit_grew <= requests + api_bench.WRK_CONNECTIONS:
        sys.exit(f"scale-out: wrk counted {requests} requests, the audit log grew {audit_grew}")
    top = sorted(((q, c) for q, (c, _) in ran.items()), key=lambda qc: -qc[1])[:6]
    return Costs(
        requests=requests,
        seconds=seconds,
        server_ms=server_ms,
        db_ms=db_ms,
        statements=sum(c for c, _ in ran.values()),
        exec_ms=sum(t for _, t in ran.values()),
        commits=commits_now - commits,
        top=tuple(top),
    )


def _median(runs: Sequence[Costs], of: str) -> float:
    return statistics.median(r.per(getattr(r, of)) for r in runs)


def _short(query: str) -> str:
    flat = " ".join(query.split())
    return flat if len(flat) <= 90 else flat[:87] + "..."


def _report(measured: Measured, args: argparse.Namespace) -> None:
    print("\n## Scale-out on one PostgreSQL: the cost of a request per tier\n")
    print(
        f"{args.rounds} rounds x {args.duration} s per task and layout; wrk's 32 connections "
        "to one server, or 16 to each of two on the same database. Per request, medians:\n"
    )
    print(
        "| task | servers | req/s | server CPU ms | database CPU ms | statements | commits "
        "| database exec ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for task in TASKS:
        for layout in LAYOUTS:
            runs = measured.runs[(task, layout)]
            rps = statistics.median(r.requests / r.seconds for r in runs)
            print(
                f"| {task} | {layout} | {rps:,.0f} | {_median(runs, 'server_ms'):.3f} "
                f"| {_median(runs, 'db_ms'):.3f} | {_median(runs, 'statements'):.2f} "
                f"| {_median(runs, 'commits'):.2f} | {_median(runs, 'exec_ms'):.3f} |"
            )
    print("\nThe statements behind most of the calls (last run, one server), calls per request:\n")
    for task in TASKS:
        last = measured.runs[(task, 1)][-1]
        print(f"- {task}:")
        for query, calls in last.top:
            print(f"  - {calls / last.requests:.2f} x `{_short(query)}`")
    for task in TASKS:
        one, two = measured.runs[(task, 1)], measured.runs[(task, 2)]
        for of, label in (("server_ms", "server CPU"), ("db_ms", "database CPU")):
            first, second = _median(one, of), _median(two, of)
            emit(
                f"scale-out (PostgreSQL): {task}, {label} per request, 2 servers vs 1",
                measured=f"{second:.3f} ms",
                baseline=f"1 server {first:.3f} ms",
                ratio=second / first if first else None,
                target="none (1.0: a second server adds no cost per request)",
            )
        emit(
            f"scale-out (PostgreSQL): {task}, statements per request (1 server; 2 servers)",
            measured=f"{_median(one, 'statements'):.2f}; {_median(two, 'statements'):.2f}",
            baseline=(
                f"database exec {_median(one, 'exec_ms'):.3f} ms; {_median(two, 'exec_ms'):.3f} ms"
            ),
            target="none (the database's round trips and own cost per request)",
        )


@contextmanager
def _servers(work: Path, url: str) -> Iterator[dict[str, list[Target]]]:
    """One installation, served twice; the tasks' targets on each (checked, warmed up)."""
    first = peer_setup.start_stacksafe("stacksafe 1", work / "one", url)
    second = peer_setup.serve("stacksafe 2", first.inst, work / "two.log")
    try:
        targets = [stacksafe_targets(first, None)]
        twin = peer_setup.Stacksafe(
            "stacksafe 2", second, first.inst, first.writes_uid, first.engine, None
        )
        targets.append(stacksafe_targets(twin, None))
        for target in (t for ts in targets for t in ts):
            target.error = target.check()
            if target.error:
                sys.exit(f"{target.server}, {target.task}: {target.error}")
            warm(target, work)
        yield {task: [next(t for t in ts if t.task == task) for ts in targets] for task in TASKS}
    finally:
        api_bench._stop(second)
        api_bench._stop(first.server)
        first.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="runs per task and layout (2)")
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk run (4)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not on PATH (Debian/Ubuntu: apt-get install wrk)")
    started = time.perf_counter()
    measured = Measured()
    with tempfile.TemporaryDirectory(prefix="stacksafe-scale-out-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        cluster, url = _cluster(stack)
        db = Database(cluster.url("postgres"))
        stack.callback(db.close)
        servers = stack.enter_context(_servers(work, url))
        for round_no in range(args.rounds):
            for task in TASKS:
                both = servers[task]
                order = LAYOUTS if round_no % 2 == 0 else LAYOUTS[::-1]
                for layout in order:
                    costs = measure(both[:layout], db, args.duration, work)
                    measured.runs.setdefault((task, layout), []).append(costs)
    _report(measured, args)
    print(f"\n(total {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
