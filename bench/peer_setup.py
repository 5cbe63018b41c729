"""The servers of the peer bench, holding the same data: stacksafe (SQLite, PostgreSQL), OpenBao.

stacksafe: api_bench.py's installation (account ``bench-account`` with 150 secrets, its stack
``web`` with 50 of its own: 200 effective keys; an owner's ``public admin`` token), plus a stack
``writes`` with the keys the write task overwrites (``WRITE_00`` to ``WRITE_19``), served by
``stacksafe serve --rate-limit 1000000000`` (the default 3000 per hour would throttle wrk), on
SQLite in its data dir or on a PostgreSQL database of its own.

OpenBao (tests/openbao.py, prod-like or -dev): the 200 keys at one KV v2 path,
``secret/bench-account/web``; each of the stack's 50 own keys at a path of its own,
``secret/bench-one/<KEY>`` (``{"value": ...}``: one secret per path, as Vault users keep a
single secret); the write keys at ``secret/bench-write/<KEY>``. Read with a token whose only
policy reads ``secret/data/*``, written with one that may only create and update
``secret/data/bench-write/*``: what a deployment hands out, not the root token.
"""

from __future__ import annotations

import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import api_bench
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool
from tests import openbao

from stacksafe.core.access import Principal
from stacksafe.core.installation import open_installation
from stacksafe.core.secrets import import_secrets
from stacksafe.core.tenancy import Target, create_stack, find_account
from stacksafe.model import SecretValue

__all__ = [
    "FETCH_PATH",
    "SINGLE_PREFIX",
    "WRITE_KEYS",
    "WRITE_PREFIX",
    "Peer",
    "Stacksafe",
    "backend_pids",
    "load_openbao",
    "serve",
    "start_stacksafe",
]

ACCOUNT = "bench-account"
FETCH_PATH = f"{ACCOUNT}/web"  # <account>/<stack> of api_bench's installation
SINGLE_PREFIX = "bench-one"
WRITE_STACK = "writes"
WRITE_PREFIX = "bench-write"
WRITE_KEYS = tuple(f"WRITE_{i:02d}" for i in range(20))
BIN = Path(sys.executable).parent


@dataclass
class Stacksafe:
    """A running ``stacksafe serve`` and what the tasks need of its installation."""

    label: str
    server: api_bench.Server
    inst: api_bench.Installation
    writes_uid: str
    engine: Engine  # its database, for counting audit events between runs (no pool)
    database: str | None  # PostgreSQL: the database's name (its backends are the server's)

    @property
    def single_keys(self) -> tuple[str, ...]:
        """The stack's own keys, revealed one at a time in turn."""
        return tuple(k for k in self.inst.plaintexts if k.startswith("STACK_SECRET"))

    def audit_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT max(seq) FROM audit_events")).scalar() or 0)


def _add_write_stack(inst: api_bench.Installation) -> str:
    installation = open_installation(inst.settings)
    try:
        local = Principal.local("bench")
        account = find_account(installation, ACCOUNT)
        stack = create_stack(installation, local, ACCOUNT, WRITE_STACK, "production")
        initial = {k: SecretValue(f"initial-{k}") for k in WRITE_KEYS}
        import_secrets(installation, local, Target(account, stack), initial)
        return stack.uid
    finally:
        installation.close()


def start_stacksafe(label: str, work: Path, database_url: str | None) -> Stacksafe:
    """Install and serve (stop it with ``api_bench._stop(found.server)``)."""
    environ = {} if database_url is None else {"STACKSAFE_DATABASE_URL": database_url}
    inst = api_bench._install(work / "data", environ)
    writes_uid = _add_write_stack(inst)
    server = serve(label, inst, work / "serve.log")
    engine = create_engine(inst.settings.database_url, poolclass=NullPool)
    database = None if database_url is None else engine.url.database
    return Stacksafe(label, server, inst, writes_uid, engine, database)


def serve(label: str, inst: api_bench.Installation, log: Path) -> api_bench.Server:
    """``stacksafe serve`` on ``inst`` (a second call: another server on the same data)."""
    environ = {"STACKSAFE_DATABASE_URL": inst.settings.database_url}
    argv = [
        *(str(BIN / "stacksafe"), "serve", "--host", api_bench.HOST),
        *("--data-dir", str(inst.settings.data_dir), "--rate-limit", str(10**9)),
    ]
    return api_bench._start(label, argv, api_bench._child_env(**environ), log, "/healthz")


def backend_pids(admin: Engine, database: str) -> list[int]:
    """The PostgreSQL processes serving ``database``'s connections (the server's pool)."""
    with closing(admin.connect()) as conn:
        found = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database},
        )
        return [int(pid) for (pid,) in found]


@dataclass
class Peer:
    """An OpenBao server with the bench's data and its two tokens."""

    bao: openbao.OpenBao
    reader: str
    writer: str


def load_openbao(
    bao: openbao.OpenBao, plaintexts: dict[str, str], single_keys: tuple[str, ...]
) -> Peer:
    openbao.put_kv(bao, FETCH_PATH, plaintexts)
    for key in single_keys:
        openbao.put_kv(bao, f"{SINGLE_PREFIX}/{key}", {"value": plaintexts[key]})
    for key in WRITE_KEYS:
        openbao.put_kv(bao, f"{WRITE_PREFIX}/{key}", {"value": f"initial-{key}"})
    writer = openbao.policy_token(
        bao, "bench-writer", f"secret/data/{WRITE_PREFIX}/*", ("create", "update")
    )
    return Peer(bao, openbao.reader_token(bao), writer)
