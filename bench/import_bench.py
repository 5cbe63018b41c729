"""A 20,000-key `secrets import` on SQLite, and what it does to other users' reveals meanwhile.

Setup (untimed): a fresh installation in a temporary data dir, SQLite; one account with a stack
"web" of 50 secrets (the readers' target).

Timed, per mode, ``ROUNDS`` rounds, each importing 20,000 new keys into a new stack:

* the **import** runs in a child process (as `stacksafe secrets import` runs beside a server),
  through ``core.imports.import_secrets``; its wall time from inside the child;
* **reveals during the import**: this process (the "server") reveals "web" in a loop
  (``list_secrets(reveal=True)``: every reveal appends an audit event, a write, so it needs
  SQLite's write lock) until the child exits; the latency of each reveal.

Modes: **one transaction** (``batch_keys=20,000``: the import as it was before batching, with
today's faster writes) and **batches** (the default, ``BATCH_KEYS["sqlite"]`` = 250 keys per
transaction, the write lock yielded between batches). The headline figure is the maximum reveal
latency during the import, batches against one transaction (``ratio = batches / one``).

Run: ``.venv/bin/python bench/import_bench.py`` (about 1 minute). Against an older checkout
(before batched imports): ``PYTHONPATH=OLD/src .venv/bin/python bench/import_bench.py``, where
both modes are its single transaction.
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from stacksafe.core.access import Principal

try:
    from stacksafe.core.imports import BATCH_KEYS, import_secrets
except ImportError:  # a checkout from before batched imports (PYTHONPATH=OLD/src): one mode
    from stacksafe.core.secrets import import_secrets as _one_transaction

    BATCH_KEYS = {}

    def import_secrets(*args: Any, batch_keys: int | None = None, **kwargs: Any) -> Any:  # type: ignore[misc]
        return _one_transaction(*args, **kwargs)


from stacksafe.core.installation import Installation, initialise, open_installation
from stacksafe.core.secrets import list_secrets
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.model import SecretValue
from stacksafe.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))
from results import emit

BENCH = Principal.local("local:bench")
KEYS = 20_000
ROUNDS = 2


@dataclass(frozen=True)
class Round:
    import_s: float
    reveals: list[float]


def _import_in_child(
    environ: dict[str, str], data_dir: str, stack: str, batch: int | None, go: Event, out: Any
) -> None:
    settings = Settings.load(environ, data_dir=Path(data_dir))
    installation = open_installation(settings)
    try:
        account = create_account_target(installation)
        level = Target(account.account, create_stack(installation, BENCH, "acme", stack, "dev"))
        entries = {f"KEY_{i:05d}": SecretValue(f"value-{i}-{'x' * 24}") for i in range(KEYS)}
        go.wait()
        started = time.perf_counter()
        import_secrets(installation, BENCH, level, entries, batch_keys=batch)
        out.put(time.perf_counter() - started)
    finally:
        installation.close()


def create_account_target(installation: Installation) -> Target:
    from stacksafe.core.tenancy import visible_target

    return visible_target(installation, BENCH, account_ref="acme")


def _round(
    environ: dict[str, str],
    data_dir: Path,
    server: Installation,
    web: Target,
    name: str,
    batch: int | None,
) -> Round:
    spawn = multiprocessing.get_context("spawn")
    go, out = spawn.Event(), spawn.Queue()
    child = spawn.Process(
        target=_import_in_child, args=(environ, str(data_dir), name, batch, go, out)
    )
    child.start()
    time.sleep(3)  # the child imports Python and builds its 20,000 values first
    go.set()
    latencies = []
    while child.is_alive():
        started = time.perf_counter()
        list_secrets(server, BENCH, web, reveal=True)
        latencies.append(time.perf_counter() - started)
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"the import process failed (exit {child.exitcode})")
    return Round(out.get(timeout=5), latencies)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="stacksafe-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        environ = {"STACKSAFE_DATABASE_URL": f"sqlite:///{data_dir / 'stacksafe.db'}"}
        settings = Settings.load(environ, data_dir=data_dir)
        server, _ = initialise(settings)
        try:
            account = create_account(server, BENCH, "acme")
            web = Target(account, create_stack(server, BENCH, "acme", "web", "production"))
            import_secrets(server, BENCH, web, {f"W{i}": SecretValue("w" * 24) for i in range(50)})
            list_secrets(server, BENCH, web, reveal=True)  # warm
            results: dict[str, list[Round]] = {"one transaction": [], "batches": []}
            for n in range(ROUNDS):  # interleaved: the machine's load hits both alike
                for mode, batch in (("one transaction", KEYS), ("batches", None)):
                    name = f"big-{n}-{'one' if batch else 'batched'}"
                    results[mode].append(_round(environ, data_dir, server, web, name, batch))
        finally:
            server.close()
    _report(results)


def _report(results: dict[str, list[Round]]) -> None:
    print(f"## SQLite: a {KEYS:,}-key import in a child process, reveals of 50 secrets meanwhile\n")
    print(f"Batch size: {BATCH_KEYS.get('sqlite')} keys. {ROUNDS} rounds per mode, interleaved.\n")
    print("| mode | import (median) | reveals during | max reveal | p99 reveal | median reveal |")
    print("|---|---:|---:|---:|---:|---:|")
    worst = {}
    for mode, rounds in results.items():
        latencies = sorted(x for r in rounds for x in r.reveals)
        worst[mode] = max(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"| {mode} | {statistics.median(r.import_s for r in rounds):.2f} s | "
            f"{len(latencies):,} | {worst[mode] * 1000:.0f} ms | {p99 * 1000:.0f} ms | "
            f"{statistics.median(latencies) * 1000:.1f} ms |"
        )
    print()
    ratio = worst["batches"] / worst["one transaction"]
    emit(
        "import: max reveal latency during a 20,000-key import (SQLite)",
        measured=f"{worst['batches'] * 1000:.0f} ms",
        baseline=f"one transaction {worst['one transaction'] * 1000:.0f} ms",
        ratio=round(ratio, 3),
        target="batches / one transaction <= 0.1",
        passed=ratio <= 0.1,
    )


if __name__ == "__main__":
    main()
