"""Scale: a stack's effective-set read in a database of 1,000 secrets against one of 1,000,000.

Setup (timed, reported as secrets/s), per backend, two setups holding the same target,
account ``bench-account`` with 150 account-level secrets and its stack ``web`` with 50 of its
own (200 effective, the shape of reveal_bench.py):

* **small**: the target plus 8 more stacks of 100 secrets in the same account: 1,000 secrets.
* **big**: 10 accounts of 150 account-level secrets and 1,000 stacks each (``web`` and 999
  stacks of 100 in the target account; 1,000 stacks of 100 in the others): 10,000 stacks and
  1,001,450 secrets.

Generated through ``core.bulk.load_stacks`` (the rows ``create_stack`` + ``import_secrets``
write: real data keys, sealed envelopes, version rows, two audit events per stack, many stacks
per transaction) and ``import_secrets`` for the account levels.

Timed, ``ROUNDS`` interleaved rounds (both databases, every measurement, rotating order,
``CALLS`` calls each), medians:

* **database-bound reveal**: ``list_secrets(reveal=True)`` on a installation opened with
  ``read_cache_bytes=0``: every call reads the 200 rows, opens every envelope and appends its
  audit event. This is what the target is about: ratio big / small <= 1.5.
* **masked list**: ``list_secrets(reveal=False)``, same installation (reads and authenticates every
  row, no audit event).
* **warm reveal**: ``list_secrets(reveal=True)`` on a default installation, whose read cache
  (core/read_cache.py) holds the level: one revision query, then the kept values, plus the audit
  event.
* **query only**: ``store.secrets.effective_secrets`` in a read transaction: the one indexed
  query, no crypto, no audit.

Backends: SQLite always; PostgreSQL when ``STACKSAFE_BENCH_PG_URL`` is set (a throwaway database
per setup, created and dropped as reveal_bench.py does). PostgreSQL loads about five
times slower, so its big setup has 1,000 stacks (about 100,000 secrets) unless
``--pg-big-stacks 10000`` is given; both are analysed (``ANALYZE``) after loading, and the
scans of the query's plan are printed.

Run: ``.venv/bin/python bench/scale.py`` (about 2 min on SQLite; ``--big-stacks 1000`` for a
quick try at a tenth of the size).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets as token
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from stacksafe.core.access import Principal
from stacksafe.core.bulk import NewStack, load_stacks
from stacksafe.core.installation import Installation, initialise, open_installation
from stacksafe.core.secrets import import_secrets, list_secrets
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.model import Account, SecretValue
from stacksafe.settings import Settings
from stacksafe.store import secrets as queries

sys.path.insert(0, str(Path(__file__).parent))
from results import emit
from reveal_bench import PG_ENV, _pg_database, _values

BENCH = Principal.local("local:bench")
ACCOUNT = "bench-account"
ACCOUNT_SECRETS = 150
STACK_SECRETS = 50
EFFECTIVE = ACCOUNT_SECRETS + STACK_SECRETS
OTHER_STACK_SECRETS = 100
SMALL_OTHER_STACKS = 8  # 150 + 50 + 8 x 100 = 1,000
BIG_ACCOUNTS = 10
BIG_STACKS = 10_000  # across BIG_ACCOUNTS accounts, ``web`` included
# PostgreSQL loads about 2,500 secrets/s (SQLite 13,000): a tenth of the size by default.
PG_BIG_STACKS = 1_000
ROUNDS = 15
CALLS = 5
TARGET = 1.5
MODES = {
    "db": "database-bound reveal (read cache off)",
    "masked": "masked list (read cache off)",
    "warm": "warm reveal (read cache on)",
    "query": "query only (`effective_secrets`)",
}


@dataclass
class BenchSetup:
    label: str
    secrets: int
    stacks: int
    load_seconds: float
    normal_seconds: float  # small only: its 8 other stacks through the normal path
    cold: Installation  # read_cache_bytes=0
    warm: Installation
    target: Target


def _other_stacks(prefix: str, count: int) -> Iterator[NewStack]:
    for n in range(count):
        values = {
            f"SERVICE_{i:03d}": SecretValue(token.token_urlsafe(24))
            for i in range(OTHER_STACK_SECRETS)
        }
        yield NewStack(f"{prefix}-{n:05d}", "production", values)


def _build(label: str, environ: dict[str, str], data_dir: Path, big_stacks: int) -> BenchSetup:
    settings = Settings.load(environ, data_dir=data_dir)
    installation, _ = initialise(settings)
    started = time.perf_counter()
    rng = random.Random(20240515)
    accounts = BIG_ACCOUNTS if big_stacks else 1
    per_account = big_stacks // accounts if big_stacks else 0
    total = stacks = 0
    normal_seconds = 0.0
    target: Target | None = None
    for a in range(accounts):
        name = ACCOUNT if a == 0 else f"other-account-{a:02d}"
        account = create_account(installation, BENCH, name)
        import_secrets(installation, BENCH, Target(account), _values(rng, "ACCOUNT_SECRET", 150))
        total += ACCOUNT_SECRETS
        others = per_account - 1 if a == 0 else per_account
        if a == 0:
            (web,) = load_stacks(
                installation,
                BENCH,
                name,
                [NewStack("web", "production", _values(rng, "STACK_SECRET", STACK_SECRETS))],
            )
            target = Target(account, web)
            total += STACK_SECRETS
            stacks += 1
            if not big_stacks:
                others = SMALL_OTHER_STACKS
        if big_stacks:
            load_stacks(installation, BENCH, name, _other_stacks(f"{name}-svc", others))
        else:
            normal_seconds = _normal_path(
                installation, account, _other_stacks(f"{name}-svc", others)
            )
        total += others * OTHER_STACK_SECRETS
        stacks += others
    load_seconds = time.perf_counter() - started
    if installation.store.dialect == "postgresql":
        # As after any bulk load on PostgreSQL: fresh planner statistics, rather than whatever
        # autovacuum has analysed so far (plans would otherwise change in the middle of a run).
        with installation.store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    installation.close()
    assert target is not None
    cold = open_installation(replace(settings, read_cache_bytes=0))
    warm = open_installation(settings)
    return BenchSetup(label, total, stacks, load_seconds, normal_seconds, cold, warm, target)


def _normal_path(installation: Installation, account: Account, stacks: Iterable[NewStack]) -> float:
    """Seconds to write ``stacks`` one by one through create_stack + import_secrets."""
    started = time.perf_counter()
    for new in stacks:
        stack = create_stack(installation, BENCH, account.name, new.name, new.environment)
        import_secrets(installation, BENCH, Target(account, stack), new.secrets)
    return time.perf_counter() - started


def _seconds(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    for _ in range(CALLS):
        fn()
    return (time.perf_counter() - started) / CALLS


def _plan(inst: BenchSetup) -> str:
    """PostgreSQL: the scans of the effective-set query's plan for the target (empty on SQLite)."""
    if inst.cold.store.dialect != "postgresql" or inst.target.stack is None:
        return ""
    params = {"account_id": inst.target.account.id, "stack_id": inst.target.stack.id}
    with inst.cold.store.read() as conn:
        query = queries._effective_query(False).compile(dialect=conn.dialect)
        lines = [r[0] for r in conn.exec_driver_sql(f"EXPLAIN {query}", params).all()]
    scans = [line.strip().split("  (")[0].removeprefix("->  ") for line in lines if "Scan" in line]
    return "; ".join(scans)


def _calls(inst: BenchSetup) -> dict[str, Callable[[], object]]:
    target = inst.target
    assert target.stack is not None
    stack_id, account_id = target.stack.id, target.account.id

    def query() -> object:
        with inst.cold.store.read() as conn:
            return queries.effective_secrets(conn, account_id, stack_id)

    return {
        "db": lambda: list_secrets(inst.cold, BENCH, target, reveal=True),
        "masked": lambda: list_secrets(inst.cold, BENCH, target),
        "warm": lambda: list_secrets(inst.warm, BENCH, target, reveal=True),
        "query": query,
    }


def _bench(label: str, small: BenchSetup, big: BenchSetup) -> None:
    calls = {inst.label: _calls(inst) for inst in (small, big)}
    for inst in (small, big):
        found = list_secrets(inst.cold, BENCH, inst.target, reveal=True)
        assert len(found) == EFFECTIVE
        assert all(s.raw_value is not None for s in found)
        assert len(list_secrets(inst.warm, BENCH, inst.target, reveal=True)) == EFFECTIVE
    jobs = [(inst, mode) for mode in MODES for inst in ("small", "big")]
    samples: dict[tuple[str, str], list[float]] = {job: [] for job in jobs}
    for round_no in range(ROUNDS):
        shift = round_no % len(jobs)
        for inst_label, mode in jobs[shift:] + jobs[:shift]:
            samples[(inst_label, mode)].append(_seconds(calls[inst_label][mode]))

    def ms(inst_label: str, mode: str) -> float:
        return statistics.median(samples[(inst_label, mode)]) * 1000

    def ratio(mode: str) -> float:
        pairs = zip(samples[("big", mode)], samples[("small", mode)], strict=True)
        return statistics.median(b / s for b, s in pairs)

    print(f"## {label}: one stack's {EFFECTIVE} effective secrets, small vs big database\n")
    print("| setup | secrets | stacks | generated in | secrets/s |")
    print("|---|---:|---:|---:|---:|")
    for inst in (small, big):
        print(
            f"| {inst.label} | {inst.secrets:,} | {inst.stacks:,} | {inst.load_seconds:.1f} s "
            f"| {inst.secrets / inst.load_seconds:,.0f} |"
        )
    normal = SMALL_OTHER_STACKS * OTHER_STACK_SECRETS / small.normal_seconds
    bulk_rate = big.secrets / big.load_seconds
    print(
        f"\nThe small setup's {SMALL_OTHER_STACKS} other stacks went through the normal "
        f"path (`create_stack` + `import_secrets`, a transaction each): {normal:,.0f} secrets/s; "
        f"the big one through `core.bulk`: {bulk_rate:,.0f} secrets/s "
        f"({bulk_rate / normal:.1f}x)."
    )
    print(f"\n{ROUNDS} interleaved rounds of {CALLS} calls, medians:\n")
    print("| measurement | small | big | ratio big / small | target |")
    print("|---|---:|---:|---:|---|")
    for mode, name in MODES.items():
        r = ratio(mode)
        target = f"<= {TARGET}: {'PASS' if r <= TARGET else 'FAIL'}" if mode == "db" else ""
        print(
            f"| {name} | {ms('small', mode):.2f} ms | {ms('big', mode):.2f} ms "
            f"| {r:.2f} | {target} |"
        )
    plans = {inst.label: _plan(inst) for inst in (small, big)}
    if any(plans.values()):
        print("\nScans in the effective-set query's plan (`EXPLAIN`, after `ANALYZE`):\n")
        for name, plan in plans.items():
            print(f"- {name}: {plan}")
    print()
    emit(
        f"scale ({label}): generator, {big.secrets:,} secrets via core.bulk",
        measured=f"{bulk_rate:,.0f} secrets/s ({big.load_seconds:.0f} s)",
        baseline=f"normal path {normal:,.0f} secrets/s",
        ratio=bulk_rate / normal,
    )
    for mode in ("db", "masked", "warm"):
        r = ratio(mode)
        emit(
            f"scale ({label}): {MODES[mode]}, {big.secrets:,} vs {small.secrets:,} secrets",
            measured=f"{ms('big', mode):.2f} ms",
            baseline=f"{ms('small', mode):.2f} ms",
            ratio=r,
            target=f"big / small <= {TARGET}" if mode == "db" else "",
            passed=r <= TARGET if mode == "db" else None,
        )


def _run(label: str, environ: Callable[[str], dict[str, str]], big_stacks: int) -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stacksafe-scale-") as tmp:
        small = _build("small", environ("small"), Path(tmp) / "small", 0)
        big = _build("big", environ("big"), Path(tmp) / "big", big_stacks)
        try:
            _bench(label, small, big)
        finally:
            for inst in (small, big):
                inst.cold.close()
                inst.warm.close()
        sqlite_file = Path(tmp) / "big" / "stacksafe.db"
        size = (
            f", big database file {sqlite_file.stat().st_size / 1e6:,.0f} MB"
            if (sqlite_file.exists())
            else ""
        )
    print(f"({label}: total {time.perf_counter() - started:.1f} s{size})\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--big-stacks", type=int, default=BIG_STACKS)
    parser.add_argument(
        "--pg-big-stacks",
        type=int,
        default=PG_BIG_STACKS,
        help=f"stacks of the big PostgreSQL setup (default {PG_BIG_STACKS:,}; "
        f"{BIG_STACKS:,} for the full million, about 8 minutes more)",
    )
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()
    print("# stacksafe scale benchmark\n")
    _run("SQLite", lambda _name: {}, args.big_stacks)
    pg_url = os.environ.get(PG_ENV)
    if not pg_url or args.no_pg:
        print(f"(PostgreSQL skipped: set {PG_ENV} to run it)")
        return
    with ExitStack() as stack:
        urls = {name: stack.enter_context(_pg_database(pg_url)) for name in ("small", "big")}
        _run("PostgreSQL", lambda name: {"STACKSAFE_DATABASE_URL": urls[name]}, args.pg_big_stacks)


if __name__ == "__main__":
    main()
