"""One secret at a time: an audited reveal and a write with audit, against raw SQL of the same rows.

In-process, one caller, so the comparison is "stacksafe's core functions" against "the same
rows through the same driver" (SQLAlchemy engine, sqlite3 or psycopg 3, the same connection
setup), with no HTTP, thread pool or client in either (api_bench.py covers HTTP).

Setup (untimed), per backend: two setups made the same way (``initialise``, account
``bench-account``, stack ``web`` with 50 secrets written by ``import_secrets``): one for
stacksafe, one for the raw SQL (its audit chain is not kept valid, so it must not be the one
stacksafe reads).

Timed, ``ROUNDS`` rounds, each running the four measurements in rotating order, ``CALLS`` calls
each, keys taken in turn from the 50:

* **reveal**: ``get_secret(installation, actor, target, key, reveal=True)``: access check, the row,
  its data key (cached), decrypt, and one hash-chained audit event durably committed before it
  returns. **Raw**: a read transaction selecting the secret joined to its current version and the
  stack's data key row, one ``AESGCM.decrypt`` of a value of the same size with a prebuilt key,
  then a write transaction inserting one ``audit_events`` row and updating ``audit_head``,
  committed (hashes and detail precomputed).
* **write with audit**: ``set_secret`` of a new value (a new version of an existing key).
  **Raw**: one write transaction doing what set_secret's rows are: move the secret's pointer
  (compare-and-set ``UPDATE secrets``), ``INSERT`` the version (a precomputed envelope), count
  the seal on the data key, ``INSERT`` the audit row, update ``audit_head``; one durable commit.

On SQLite both commit with ``synchronous=FULL`` (stacksafe's engine setup, which the raw SQL
shares); the bench's PostgreSQL cluster runs with ``fsync=off``, for both alike. Reported:
requests/s (one caller: 1 / latency) and ``ratio = stacksafe req/s / raw req/s``. The issue
sets no target for these; the ratio says what stacksafe's checks, crypto and hash chain cost
over the bare rows.

Backends: SQLite always; PostgreSQL when ``STACKSAFE_BENCH_PG_URL`` is set.

Run: ``.venv/bin/python bench/single_bench.py`` (about 20 s per backend).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection

from stacksafe.core.access import Principal
from stacksafe.core.audit_chain import verify_chain
from stacksafe.core.installation import Installation, initialise
from stacksafe.core.secrets import get_secret, import_secrets, set_secret
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.model import SecretValue
from stacksafe.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))
from results import emit
from reveal_bench import PG_ENV, _pg_database

BENCH = Principal.local("local:bench")
KEYS = 50
ROUNDS = 15
CALLS = 20
VALUE = "postgresql://svc:" + "s" * 24 + "@db.internal:5432/app"


@dataclass
class BenchSetup:
    installation: Installation
    target: Target


def _install(environ: dict[str, str], data_dir: Path) -> BenchSetup:
    installation, _ = initialise(Settings.load(environ, data_dir=data_dir))
    account = create_account(installation, BENCH, "bench-account")
    stack = create_stack(installation, BENCH, "bench-account", "web", "production")
    target = Target(account, stack)
    import_secrets(installation, BENCH, target, {_key(i): SecretValue(VALUE) for i in range(KEYS)})
    return BenchSetup(installation, target)


def _key(i: int) -> str:
    return f"SERVICE_URL_{i:03d}"


class Raw:
    """The same rows as stacksafe reads and writes, as plain SQL through the same engine."""

    def __init__(self, inst: BenchSetup) -> None:
        self.store = inst.installation.store
        self.sqlite = self.store.dialect == "sqlite"
        self.stack_id = inst.target.stack_id
        self.account_uid = inst.target.account.uid
        assert inst.target.stack is not None
        self.stack_uid = inst.target.stack.uid
        with self.store.read() as conn:
            rows = conn.exec_driver_sql(
                self._sql("SELECT key, id, current_version FROM secrets WHERE stack_id = ?"),
                (self.stack_id,),
            ).all()
            self.ids = {key: (sid, version) for key, sid, version in rows}
            self.data_key_id = conn.exec_driver_sql(
                self._sql("SELECT max(id) FROM data_keys WHERE stack_id = ?"), (self.stack_id,)
            ).scalar_one()
            self.seq = int(
                conn.exec_driver_sql("SELECT coalesce(max(seq), 0) FROM audit_events").scalar_one()
            )
            envelope = conn.exec_driver_sql(
                self._sql("SELECT envelope FROM secret_versions WHERE secret_id = ?"),
                (rows[0][1],),
            ).scalar_one()
        self.envelope = bytes(envelope)  # same size as a real one (not bound to the new rows)
        self.aead = AESGCM(AESGCM.generate_key(bit_length=256))
        self.nonce = os.urandom(12)
        self.aad = os.urandom(120)
        self.sealed = self.aead.encrypt(self.nonce, VALUE.encode(), self.aad)
        self.hash = os.urandom(32)
        # A fingerprint's size (32 hex digits), not a real one.
        self.detail = '{"fingerprints":{"K":"' + "0" * 32 + '"},"keys":{"K":1}}'
        self.select = self._sql(
            "SELECT s.key, s.stack_id, s.current_version, v.envelope, s.created_at, s.updated_at"
            " FROM secrets s JOIN secret_versions v"
            " ON v.secret_id = s.id AND v.version = s.current_version"
            " WHERE s.stack_id = ? AND s.key = ? AND s.deleted = ?"
        )
        self.select_key = self._sql(
            "SELECT id, version, master_key_version, wrapped_key FROM data_keys WHERE stack_id = ?"
        )
        self.insert_event = self._sql(
            "INSERT INTO audit_events (seq, at, actor, token_uid, source_ip, request_id, action,"
            " outcome, account_uid, stack_uid, detail, prev_hash, hash)"
            " VALUES (?, ?, ?, NULL, NULL, NULL, ?, 'ok', ?, ?, ?, ?, ?)"
        )
        self.move_head = self._sql("UPDATE audit_head SET seq = ?, hash = ?, mac = ? WHERE id = 1")
        self.advance = self._sql(
            "UPDATE secrets SET current_version = ?, deleted = ?, updated_at = ?"
            " WHERE id = ? AND current_version = ?"
        )
        self.insert_version = self._sql(
            "INSERT INTO secret_versions (secret_id, version, action, envelope, author, created_at)"
            " VALUES (?, ?, 'set', ?, ?, ?)"
        )
        self.count_seal = self._sql("UPDATE data_keys SET seal_count = seal_count + 1 WHERE id = ?")

    def _sql(self, statement: str) -> str:
        return statement if self.sqlite else statement.replace("?", "%s")

    def _now(self) -> Any:
        now = datetime.now(UTC).replace(tzinfo=None)
        # As SQLAlchemy stores them: text on SQLite, a timestamp on PostgreSQL.
        return now.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else now

    def _audit(self, conn: Connection, action: str) -> None:
        self.seq += 1
        conn.exec_driver_sql(
            self.insert_event,
            (
                self.seq,
                self._now(),
                BENCH.name,
                action,
                self.account_uid,
                self.stack_uid,
                self.detail,
                self.hash,
                self.hash,
            ),
        )
        conn.exec_driver_sql(self.move_head, (self.seq, self.hash, self.hash))

    def reveal(self, key: str) -> bytes:
        with self.store.read() as conn:
            row = conn.exec_driver_sql(self.select, (self.stack_id, key, False)).first()
            conn.exec_driver_sql(self.select_key, (self.stack_id,)).all()
        assert row is not None
        plaintext = self.aead.decrypt(self.nonce, self.sealed, self.aad)
        with self.store.write() as conn:
            self._audit(conn, "reveal")
        return plaintext

    def write(self, key: str) -> None:
        secret_id, version = self.ids[key]
        now = self._now()
        with self.store.write() as conn:
            moved = conn.exec_driver_sql(
                self.advance, (version + 1, False, now, secret_id, version)
            ).rowcount
            assert moved == 1
            conn.exec_driver_sql(
                self.insert_version, (secret_id, version + 1, self.envelope, BENCH.name, now)
            )
            conn.exec_driver_sql(self.count_seal, (self.data_key_id,))
            self._audit(conn, "secret.set")
        self.ids[key] = (secret_id, version + 1)


def _seconds(fn: Callable[[str], object]) -> float:
    started = time.perf_counter()
    for i in range(CALLS):
        fn(_key(i % KEYS))
    return (time.perf_counter() - started) / CALLS


def _bench(label: str, ours: BenchSetup, theirs: BenchSetup) -> None:
    installation, target = ours.installation, ours.target
    raw = Raw(theirs)
    counter = [0]

    def reveal(key: str) -> object:
        found = get_secret(installation, BENCH, target, key, reveal=True)
        assert found.raw_value is not None
        return found

    def write(key: str) -> object:
        counter[0] += 1
        return set_secret(installation, BENCH, target, key, SecretValue(f"{VALUE}-{counter[0]}"))

    jobs: dict[str, Callable[[str], object]] = {
        "reveal": reveal,
        "raw reveal": raw.reveal,
        "write": write,
        "raw write": raw.write,
    }
    for fn in jobs.values():
        fn(_key(0))  # warm up: statement caches, data keys
    samples: dict[str, list[float]] = {name: [] for name in jobs}
    names = list(jobs)
    for round_no in range(ROUNDS):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(_seconds(jobs[name]))
    chain = verify_chain(installation)

    def per_s(name: str) -> float:
        return 1 / statistics.median(samples[name])

    def ratio(ours_name: str, raw_name: str) -> float:
        pairs = zip(samples[raw_name], samples[ours_name], strict=True)
        return statistics.median(r / o for r, o in pairs)

    print(f"## {label}: one secret at a time, one caller ({ROUNDS} rounds of {CALLS}, median)\n")
    print("| operation | stacksafe req/s | raw SQL req/s | ratio stacksafe / raw |")
    print("|---|---:|---:|---:|")
    for name, what in (("reveal", "audited reveal"), ("write", "write with audit")):
        print(
            f"| {what} | {per_s(name):,.0f} ({statistics.median(samples[name]) * 1000:.2f} ms) "
            f"| {per_s('raw ' + name):,.0f} "
            f"({statistics.median(samples['raw ' + name]) * 1000:.2f} ms) "
            f"| {ratio(name, 'raw ' + name):.2f} |"
        )
    for name, what in (("reveal", "audited reveal"), ("write", "write with audit")):
        emit(
            f"single secret ({label}): {what}, one caller",
            measured=f"{per_s(name):,.0f} req/s",
            baseline=f"raw SQL {per_s('raw ' + name):,.0f} req/s",
            ratio=ratio(name, "raw " + name),
            target="none set (issue 7: report the ratio)",
        )
    print(
        f"\nratio = stacksafe req/s / raw SQL req/s (median of per-round ratios). stacksafe's "
        f"audit chain after the run: {'intact' if chain.intact else 'BROKEN'}, "
        f"{chain.events} events.\n"
    )


def _run(label: str, environs: tuple[dict[str, str], dict[str, str]]) -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stacksafe-single-") as tmp:
        ours = _install(environs[0], Path(tmp) / "ours")
        theirs = _install(environs[1], Path(tmp) / "raw")
        try:
            _bench(label, ours, theirs)
        finally:
            ours.installation.close()
            theirs.installation.close()
    print(f"({label}: total {time.perf_counter() - started:.1f} s)\n")


def main() -> None:
    print("# stacksafe single-secret benchmark\n")
    _run("SQLite", ({}, {}))
    pg_url = os.environ.get(PG_ENV)
    if not pg_url:
        print(f"(PostgreSQL skipped: set {PG_ENV} to run it)")
        return
    with ExitStack() as stack:
        urls = [stack.enter_context(_pg_database(pg_url)) for _ in range(2)]
        _run("PostgreSQL", tuple({"STACKSAFE_DATABASE_URL": u} for u in urls))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
