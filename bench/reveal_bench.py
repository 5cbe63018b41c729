"""Revealing a stack's 200 effective secrets: ``list_secrets(reveal=True)`` against a floor.

Setup (untimed), per backend: a fresh setup in a temporary data dir, one account with 150
account-level secrets and one stack with 50 own secrets (distinct keys, so the stack sees 200),
written with ``import_secrets``.

Timed, interleaved within every round and reported as medians:

* **stacksafe**: ``list_secrets(installation, actor, stack, reveal=True)``, warm data-key cache.
* **floor**: through the same engine, one connection and the same ``secrets`` JOIN
  ``secret_versions`` (on ``current_version``) select for the two scopes, all rows fetched, then
  200 AES-GCM decrypts of values of the same sizes with one prebuilt ``AESGCM`` object. That is
  the least work any implementation must do; ``ratio = floor time / stacksafe time`` (1.0 would
  be no overhead at all, 0.5 means stacksafe takes twice as long as the floor).
* **cold cache**: ``list_secrets`` with a new, empty ``DataKeyCache`` each call (same store).
* **open_installation + reveal**: one CLI invocation's cost: open (key check, schema check), reveal.

Counted: ``Keyring.unwrap`` calls during a warm reveal (expected 0) and during the first reveal of
a freshly opened installation (expected 2, one per scope), by wrapping the method on the instance.

Backends: SQLite always; PostgreSQL too when ``STACKSAFE_BENCH_PG_URL`` is set, e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``. A throwaway database
``stacksafe_bench_<hex>`` is created on that server and dropped afterwards (needs CREATEDB).

Run: ``.venv/bin/python bench/reveal_bench.py`` (about 3 s per backend).
"""

from __future__ import annotations

import os
import random
import secrets as token
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Engine,
    Select,
    and_,
    create_engine,
    select,
    text,
    union_all,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from stacksafe.core.access import Principal
from stacksafe.core.installation import Installation, initialise, open_installation
from stacksafe.core.secrets import import_secrets, list_secrets
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.crypto import DataKeyCache
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store.schema import secret_versions, secrets

sys.path.insert(0, str(Path(__file__).parent))
from results import emit

BENCH = Principal.local("local:bench")

ACCOUNT_SECRETS = 150
STACK_SECRETS = 50
EFFECTIVE = ACCOUNT_SECRETS + STACK_SECRETS
ROUNDS = 25
CALLS_PER_ROUND = 5
PG_ENV = "STACKSAFE_BENCH_PG_URL"


@dataclass
class BenchSetup:
    label: str
    settings: Settings
    installation: Installation
    target: Target
    plaintexts: list[bytes]


def _values(rng: random.Random, prefix: str, count: int) -> dict[str, SecretValue]:
    """Realistic secret values: tokens, passwords and URLs of 16 to ~180 bytes."""
    out = {}
    for i in range(count):
        kind = rng.choice(("token", "password", "url"))
        if kind == "token":
            text_value = token.token_urlsafe(rng.randint(16, 48))
        elif kind == "password":
            text_value = token.token_hex(rng.randint(8, 32))
        else:
            text_value = (
                f"postgresql://svc_{i}:{token.token_urlsafe(24)}@db-{i}.internal:5432/app_{i}"
            )
        out[f"{prefix}_{i:03d}"] = SecretValue(text_value)
    return out


def _install(label: str, environ: dict[str, str], data_dir: Path) -> BenchSetup:
    settings = Settings.load(environ, data_dir=data_dir)
    installation, _ = initialise(settings)
    account = create_account(installation, BENCH, "bench-account")
    stack = create_stack(installation, BENCH, "bench-account", "web", "production")
    rng = random.Random(20240515)
    account_values = _values(rng, "ACCOUNT_SECRET", ACCOUNT_SECRETS)
    stack_values = _values(rng, "STACK_SECRET", STACK_SECRETS)
    import_secrets(installation, BENCH, Target(account), account_values)
    import_secrets(installation, BENCH, Target(account, stack), stack_values)
    plaintexts = [v.reveal().encode() for v in (account_values | stack_values).values()]
    return BenchSetup(label, settings, installation, Target(account, stack), plaintexts)


def _floor_query(target: Target) -> CompoundSelect[Any]:
    """The same rows list_secrets reads: live current versions of the stack and its account."""
    assert target.stack is not None

    def live(scope: ColumnElement[bool]) -> Select[Any]:
        return (
            select(
                secrets.c.key,
                secrets.c.stack_id,
                secrets.c.current_version,
                secret_versions.c.envelope,
                secrets.c.created_at,
                secrets.c.updated_at,
            )
            .join(
                secret_versions,
                and_(
                    secret_versions.c.secret_id == secrets.c.id,
                    secret_versions.c.version == secrets.c.current_version,
                ),
            )
            .where(scope, secrets.c.deleted.is_(False))
        )

    return union_all(
        live(secrets.c.stack_id == target.stack.id),
        live(and_(secrets.c.account_id == target.account.id, secrets.c.stack_id.is_(None))),
    )


def _floor(inst: BenchSetup) -> Callable[[], int]:
    engine: Engine = inst.installation.store.engine
    query = _floor_query(inst.target)
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    aad = os.urandom(120)  # about the size of a real Binding's associated data
    sealed = []
    for plaintext in inst.plaintexts:
        nonce = os.urandom(12)
        sealed.append((nonce, aead.encrypt(nonce, plaintext, aad)))

    def run() -> int:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        for nonce, ciphertext in sealed:
            aead.decrypt(nonce, ciphertext, aad)
        return len(rows)

    return run


@contextmanager
def _counting_unwraps(installation: Installation) -> Iterator[list[int]]:
    """Count ``Keyring.unwrap`` calls on this installation's keyring while the block runs."""
    keyring = installation.data_keys.keyring
    original = keyring.unwrap
    calls = [0]

    def counting(version: int, wrapped: bytes, aad: bytes) -> bytes:
        calls[0] += 1
        return original(version, wrapped, aad)

    keyring.unwrap = counting  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        del keyring.unwrap  # back to the class's method


def _seconds(fn: Callable[[], object], calls: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def _bench(inst: BenchSetup) -> None:
    installation, target = inst.installation, inst.target

    def reveal() -> object:
        return list_secrets(installation, BENCH, target, reveal=True)

    floor = _floor(inst)
    revealed = list_secrets(installation, BENCH, target, reveal=True)
    assert len(revealed) == EFFECTIVE
    assert all(s.raw_value is not None for s in revealed)
    assert sorted(s.raw_value.reveal().encode() for s in revealed if s.raw_value) == sorted(
        inst.plaintexts
    )
    assert floor() == EFFECTIVE

    with _counting_unwraps(installation) as calls:
        reveal()
    warm_unwraps = calls[0]

    # A freshly opened installation (new keyring, new cache), as one CLI invocation: count unwraps.
    reopened = open_installation(inst.settings)
    try:
        with _counting_unwraps(reopened) as calls:
            list_secrets(reopened, BENCH, target, reveal=True)
        cold_unwraps = calls[0]
        with _counting_unwraps(reopened) as calls:
            list_secrets(reopened, BENCH, target, reveal=True)
        second_unwraps = calls[0]
    finally:
        reopened.close()

    keyring = installation.data_keys.keyring

    def cold_reveal() -> object:
        """A reveal with a new, empty DataKeyCache on the same store: two unwraps."""
        fresh = Installation(
            installation.store,
            DataKeyCache(keyring),
            installation.max_value_bytes,
            server_keys=installation.server_keys,
        )
        return list_secrets(fresh, BENCH, target, reveal=True)

    def open_and_reveal() -> object:
        opened = open_installation(inst.settings)
        try:
            return list_secrets(opened, BENCH, target, reveal=True)
        finally:
            opened.close()

    def connect_only() -> object:
        with installation.store.engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar_one()

    # (function, calls per round); all run in every round, in rotating order.
    timed: dict[str, tuple[Callable[[], object], int]] = {
        "warm": (reveal, CALLS_PER_ROUND),
        "floor": (floor, CALLS_PER_ROUND),
        "cold": (cold_reveal, CALLS_PER_ROUND),
        "cli": (open_and_reveal, 1),
        "connect": (connect_only, CALLS_PER_ROUND),
    }
    names = list(timed)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(ROUNDS):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            fn, calls_per_round = timed[name]
            samples[name].append(_seconds(fn, calls_per_round))

    def ratio(num: str, den: str) -> float:
        return statistics.median(a / b for a, b in zip(samples[num], samples[den], strict=True))

    def ms(samples: list[float]) -> str:
        return f"{statistics.median(samples) * 1000:.2f} ms"

    rows = [
        ("stacksafe: list_secrets(reveal=True), warm cache", ms(samples["warm"])),
        (
            f"floor: same select + {EFFECTIVE} AESGCM decrypts, one key object",
            ms(samples["floor"]),
        ),
        ("**ratio floor / stacksafe** (1.0 = no overhead)", f"**{ratio('floor', 'warm'):.2f}**"),
        ("list_secrets, cold DataKeyCache (same store)", ms(samples["cold"])),
        ("ratio cold / warm time", f"{ratio('cold', 'warm'):.2f}"),
        ("open_installation + list_secrets + close (one CLI call)", ms(samples["cli"])),
        ("context: engine.connect() + SELECT 1", ms(samples["connect"])),
    ]
    print(f"## {inst.label}: reveal {EFFECTIVE} effective secrets ({ROUNDS} rounds, median)\n")
    print("| measurement | time |")
    print("|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print()
    print("| Keyring.unwrap calls | counted | expected |")
    print("|---|---:|---:|")
    print(f"| warm reveal (same installation) | {warm_unwraps} | 0 |")
    print(f"| first reveal of a freshly opened installation | {cold_unwraps} | 2 |")
    print(f"| second reveal of that installation | {second_unwraps} | 0 |")
    verdict = "OK" if (warm_unwraps, cold_unwraps, second_unwraps) == (0, 2, 0) else "UNEXPECTED"
    print(f"\nunwrap counts: {verdict}\n")
    emit(
        f"reveal 200 in-process ({inst.label}): list_secrets(reveal=True), warm",
        measured=ms(samples["warm"]),
        baseline=f"floor {ms(samples['floor'])}",
        ratio=ratio("floor", "warm"),
        target="none (ratio floor / stacksafe); unwrap counts 0, 2, 0",
        passed=verdict == "OK",
    )


@contextmanager
def _pg_database(server_url: str) -> Iterator[str]:
    """A throwaway database on the server of ``server_url``; yields its URL."""
    name = f"stacksafe_bench_{token.token_hex(4)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _run(label: str, environ: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="stacksafe-bench-") as tmp:
        started = time.perf_counter()
        inst = _install(label, environ, Path(tmp) / "data")
        setup = time.perf_counter() - started
        try:
            _bench(inst)
        finally:
            inst.installation.close()
        print(f"({label}: setup {setup:.1f} s, total {time.perf_counter() - started:.1f} s)\n")


def main() -> None:
    print("# stacksafe reveal benchmark\n")
    _run("SQLite", {})
    pg_url = os.environ.get(PG_ENV)
    if not pg_url:
        print(f"(PostgreSQL skipped: set {PG_ENV} to run it)")
        return
    with _pg_database(pg_url) as url:
        _run("PostgreSQL", {"STACKSAFE_DATABASE_URL": url})


if __name__ == "__main__":
    main()
