"""No plaintext at rest: after 1,000 random values, none of them is in the database files."""

from __future__ import annotations

import base64
import contextlib
import secrets as random
import sqlite3
from pathlib import Path

from sqlalchemy import text

from stacksafe.core.installation import Installation
from stacksafe.core.kv.writes import write_path
from stacksafe.core.secrets import import_secrets, list_secrets, set_secret
from stacksafe.core.tenancy import Target
from stacksafe.model import SecretValue
from stacksafe.store.schema import metadata
from tests.actors import LOCAL

COUNT = 1000


def random_values() -> dict[str, str]:
    return {f"KEY_{i:04d}": f"plain-{random.token_urlsafe(18)}" for i in range(COUNT)}


def needles(values: dict[str, str]) -> list[bytes]:
    found = []
    for value in values.values():
        raw = value.encode()
        found.append(raw)
        found.append(base64.b64encode(raw))
        found.append(raw.hex().encode())
    return found


def write_all(
    installation: Installation, account: Target, stack: Target, values: dict[str, str]
) -> None:
    items = list(values.items())
    half = len(items) // 2
    import_secrets(installation, LOCAL, stack, {k: SecretValue(v) for k, v in items[:half]})
    for key, value in items[half : half + 50]:
        set_secret(installation, LOCAL, account, key, SecretValue(value))
    # Through the Vault-compatible API's write (a KV patch of the stack path).
    write_path(installation, LOCAL, stack, dict(items[half + 50 : half + 100]), patch=True)
    import_secrets(
        installation, LOCAL, account, {k: SecretValue(v) for k, v in items[half + 100 :]}
    )


def test_no_value_or_its_base64_reaches_the_database(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    values = random_values()
    database = installation.store.engine.url.database
    with contextlib.ExitStack() as stack:
        if installation.store.dialect == "sqlite":
            # An idle second connection keeps the WAL file from being removed on close, so the
            # check below sees the log as well as the main file.
            assert database is not None
            idle = sqlite3.connect(database)
            idle.execute("SELECT count(*) FROM sqlite_master").fetchall()
            stack.callback(idle.close)
        write_all(installation, account_target, stack_target, values)
        assert len(list_secrets(installation, LOCAL, stack_target, reveal=True)) == COUNT
        blob = _stored_bytes(installation, database)
    leaked = [n for n in needles(values) if n in blob]
    assert leaked == []


def _stored_bytes(installation: Installation, database: str | None) -> bytes:
    if installation.store.dialect == "sqlite":
        assert database is not None
        files = [Path(database + suffix) for suffix in ("", "-wal", "-shm")]
        blob = b"".join(f.read_bytes() for f in files if f.exists())
        assert Path(database + "-wal").exists()
        assert len(blob) > 0
        return blob
    # Everything every table holds, as PostgreSQL renders it (bytea as hex).
    with installation.store.read() as conn:
        rows = [
            str(row).encode()
            for table in metadata.sorted_tables
            for row in conn.execute(text(f"SELECT t::text FROM {table.name} t"))  # noqa: S608
        ]
    assert len(rows) > COUNT
    return b"\n".join(rows)
