"""Master-key rotation of 10,000 data keys, and what it does to reveals served meanwhile.

Setup (untimed), per backend: a fresh installation in a temporary data dir; one account with 150
secrets and a stack "web" with 50 (the reveal target: 200 effective secrets, as in
reveal_bench.py); then 100 more stacks with 100 data keys each, written straight through the
store (``DataKeyCache.wrap_new`` + ``store.keys.insert_data_key``, one transaction), so the
installation holds 10,002 data keys.

Timed, ``ROUNDS`` rounds, each rotating to the next master-key version:

* **rotation**: ``rotate_master_key`` (default batch, 500 keys per transaction) in a child
  process, as `stacksafe keys rotate` runs beside a server; its wall time from inside the child.
  Against a **floor**: the same 10,002 unwraps and wraps with two prebuilt ``AESGCM`` objects and
  precomputed associated data, no database (``ratio = floor / rotation``).
* **reveals during rotation**: in this process, a "server" installation opened before the rotation
  reveals the stack's 200 secrets (``list_secrets(reveal=True)``, audit event included) in a loop
  while the child rotates; against **reveals before**: the same loop, as long, just before the
  rotation starts. ``ratio = during / before`` (1.0: the rotation costs the readers nothing).

Backends: SQLite always; PostgreSQL too when ``STACKSAFE_BENCH_PG_URL`` is set (a throwaway
database is created and dropped, as reveal_bench.py does).

Run: ``.venv/bin/python bench/keys.py`` (about 30 s on SQLite).
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stacksafe.core.access import Principal
from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.master_key_rotation import key_status, rotate_master_key
from stacksafe.core.secrets import list_secrets
from stacksafe.core.tenancy import Target, create_stack
from stacksafe.crypto import Scope
from stacksafe.settings import Settings
from stacksafe.store import keys as key_queries

sys.path.insert(0, str(Path(__file__).parent))
from results import emit
from reveal_bench import PG_ENV, _install, _pg_database

BENCH = Principal.local("local:bench")
KEY_STACKS = 100
KEYS_PER_STACK = 100
ROUNDS = 3


@dataclass(frozen=True)
class Round:
    rotation_s: float
    floor_s: float
    keys: int
    before_per_s: float
    during_per_s: float


def _add_data_keys(installation: Installation, account_uid: str) -> int:
    """100 stacks with 100 data keys each, written straight through the store."""
    stacks = [
        create_stack(installation, BENCH, "bench-account", f"keys-{n:03d}", "staging")
        for n in range(KEY_STACKS)
    ]
    now = installation.clock()
    with installation.store.write() as conn:
        for stack in stacks:
            scope = Scope(account_uid, stack.uid)
            for version in range(1, KEYS_PER_STACK + 1):
                _key, mk, wrapped = installation.data_keys.wrap_new(scope, version)
                key_queries.insert_data_key(
                    conn, stack.account_id, stack.id, version, mk, wrapped, now
                )
    installation.data_keys.clear()
    return KEY_STACKS * KEYS_PER_STACK


def _floor(keys: int) -> float:
    """Seconds to unwrap and re-wrap ``keys`` data keys in memory (the crypto alone)."""
    old, new = AESGCM(os.urandom(32)), AESGCM(os.urandom(32))
    aad = b"\x00" * 96
    wrapped = []
    for _ in range(keys):
        nonce = os.urandom(12)
        wrapped.append(nonce + old.encrypt(nonce, os.urandom(32), aad))
    started = time.perf_counter()
    for blob in wrapped:
        material = old.decrypt(blob[:12], blob[12:], aad)
        nonce = os.urandom(12)
        new.encrypt(nonce, material, aad)
    return time.perf_counter() - started


def _rotate_in_child(environ: dict[str, str], data_dir: str, go: Event, result: Any) -> None:
    settings = Settings.load(environ, data_dir=Path(data_dir))
    installation = open_installation(settings)
    try:
        go.wait()
        started = time.perf_counter()
        report = rotate_master_key(installation, BENCH, settings)
        elapsed = time.perf_counter() - started
    finally:
        installation.close()
    result.put((elapsed, report.rewrapped))


def _reveals(
    server: Installation, target: Target, *, seconds: float | None = None, until: Any = None
) -> float:
    """Reveals per second, for ``seconds`` or until the process ``until`` has exited."""
    count = 0
    started = time.perf_counter()
    while True:
        found = list_secrets(server, BENCH, target, reveal=True)
        assert len(found) == 200
        count += 1
        elapsed = time.perf_counter() - started
        if seconds is not None and elapsed >= seconds:
            return count / elapsed
        if until is not None and not until.is_alive():
            return count / elapsed


def _round(
    environ: dict[str, str], data_dir: Path, server: Installation, target: Target, guess: float
) -> Round:
    spawn = multiprocessing.get_context("spawn")
    go, result = spawn.Event(), spawn.Queue()
    child = spawn.Process(target=_rotate_in_child, args=(environ, str(data_dir), go, result))
    child.start()
    # While the child starts (imports, opens its installation), measure the readers alone, about as
    # long as the rotation will take.
    before = _reveals(server, target, seconds=max(guess, 1.0))
    go.set()
    during = _reveals(server, target, until=child)
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"the rotation process failed (exit {child.exitcode})")
    rotation_s, keys = result.get(timeout=5)
    return Round(rotation_s, _floor(keys), keys, before, during)


def _run(label: str, environ: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="stacksafe-bench-") as tmp:
        started = time.perf_counter()
        data_dir = Path(tmp) / "data"
        inst = _install(label, environ, data_dir)
        added = _add_data_keys(inst.installation, inst.target.account.uid)
        total_keys = sum(key_status(inst.installation).data_keys.values())
        inst.installation.close()
        setup = time.perf_counter() - started
        server = open_installation(inst.settings)  # a server that was running before the rotation
        try:
            list_secrets(server, BENCH, inst.target, reveal=True)  # warm its caches
            rounds: list[Round] = []
            guess = 2.0
            for _ in range(ROUNDS):
                rounds.append(_round(environ, data_dir, server, inst.target, guess))
                guess = rounds[-1].rotation_s
            status = key_status(server)
        finally:
            server.close()
    _report(label, added, total_keys, rounds, status.newest, status.remaining)
    print(f"({label}: setup {setup:.1f} s, total {time.perf_counter() - started:.1f} s)\n")


def _report(
    label: str, added: int, keys: int, rounds: list[Round], newest: int, remaining: int
) -> None:
    median = statistics.median
    rotation = median(r.rotation_s for r in rounds)
    floor = median(r.floor_s for r in rounds)
    before = median(r.before_per_s for r in rounds)
    during = median(r.during_per_s for r in rounds)
    print(f"## {label}: {keys:,} data keys ({added:,} written for the bench), {ROUNDS} rotations\n")
    print("| measurement | median | per round |")
    print("|---|---:|---|")
    print(
        f"| `rotate_master_key` | {rotation:.2f} s ({keys / rotation:,.0f} keys/s) | "
        + ", ".join(f"{r.rotation_s:.2f} s" for r in rounds)
        + " |"
    )
    print(
        f"| floor: unwrap + wrap in memory | {floor * 1000:.1f} ms | "
        + ", ".join(f"{r.floor_s * 1000:.1f} ms" for r in rounds)
        + " |"
    )
    print(
        f"| reveals/s before (200 secrets each) | {before:.1f} | "
        + ", ".join(f"{r.before_per_s:.1f}" for r in rounds)
        + " |"
    )
    print(
        f"| reveals/s during the rotation | {during:.1f} | "
        + ", ".join(f"{r.during_per_s:.1f}" for r in rounds)
        + " |"
    )
    ratios = [r.during_per_s / r.before_per_s for r in rounds]
    print(f"\nratio floor / rotation: {median(r.floor_s / r.rotation_s for r in rounds):.3f}")
    print(
        f"ratio reveals during / before: {median(ratios):.2f} (per round: "
        + ", ".join(f"{x:.2f}" for x in ratios)
        + ")"
    )
    verdict = "OK" if newest == 1 + ROUNDS and remaining == 0 else "UNEXPECTED"
    print(f"master key version {newest}, {remaining} keys left on older versions: {verdict}")
    emit(
        f"key rotation ({label}): rotate_master_key of {keys:,} data keys",
        measured=f"{rotation:.2f} s ({keys / rotation:,.0f} keys/s)",
        baseline=f"floor {floor * 1000:.0f} ms",
        ratio=median(r.floor_s / r.rotation_s for r in rounds),
        target="none; every key on the newest version",
        passed=verdict == "OK",
    )
    emit(
        f"key rotation ({label}): reveals/s during vs before",
        measured=f"{during:.0f} reveals/s",
        baseline=f"{before:.0f} reveals/s",
        ratio=median(ratios),
        target="none (1.0: a rotation costs readers nothing)",
    )


def main() -> None:
    print("# stacksafe master-key rotation benchmark\n")
    _run("SQLite", {})
    pg_url = os.environ.get(PG_ENV)
    if not pg_url:
        print(f"(PostgreSQL skipped: set {PG_ENV} to run it)")
        return
    with _pg_database(pg_url) as url:
        _run("PostgreSQL", {"STACKSAFE_DATABASE_URL": url})


if __name__ == "__main__":
    main()
