"""CPU per one-statement read on the event loop, PostgreSQL: psycopg's async cursor vs libpq.

The warm reveal's one statement on PostgreSQL (store.loop_reader) is read through libpq
(store.prepared_reads) rather than psycopg's ``AsyncCursor``. This measures both on the same
statement (the hot read's: the principals revision, the stack, its account), the same prepared
statement on the same kind of connection, one read at a time, in turns: process CPU per read
(``resource.getrusage``), medians over rounds. The database is a throwaway cluster
(tests/postgres.py) unless ``STACKSAFE_BENCH_PG_URL`` names a server.

Run: ``.venv/bin/python bench/loop_read.py [--rounds 3] [--reads 3000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from reveal_bench import PG_ENV, _pg_database
from server_cpu import _pg_server

from stacksafe.core.access import Principal
from stacksafe.core.installation import initialise
from stacksafe.core.tenancy import create_account, create_stack
from stacksafe.settings import Settings
from stacksafe.store.driver import Compiled
from stacksafe.store.engine import make_engine
from stacksafe.store.prepared_reads import PreparedReads
from stacksafe.store.tenancy import _STACK_REQUEST


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


async def _per_read(url: str, uid: str, reads: int, way: str) -> float:
    """Microseconds of CPU per read, ``way`` "cursor" or "libpq"."""
    engine = make_engine(url)
    _, params = engine.dialect.create_connect_args(engine.url)
    dialect: Any = type(engine.dialect)
    connection = await psycopg.AsyncConnection.connect(autocommit=True, **params)
    try:
        if way == "cursor":
            compiled = Compiled(_STACK_REQUEST, engine.dialect)
            given = compiled.parameters({"uid": uid})
            cursor = connection.cursor()

            async def read() -> None:
                await cursor.execute(compiled.sql, given, prepare=True)
                await cursor.fetchone()
        else:
            compiled = Compiled(_STACK_REQUEST, dialect(paramstyle="numeric_dollar"))
            values = compiled.parameters({"uid": uid})
            assert isinstance(values, tuple)
            reader = PreparedReads(connection)

            async def read() -> None:
                await reader.first(b"bench", compiled.sql, values)

        for _ in range(50):  # prepared, warm
            await read()
        started = _cpu()
        for _ in range(reads):
            await read()
        return (_cpu() - started) / reads * 1e6
    finally:
        await connection.close()
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reads", type=int, default=3000)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="stacksafe-loop-read-") as tmp,
        _pg_server(True) as server,
    ):
        assert server is not None
        with _pg_database(server) as url:
            settings = Settings.load({"STACKSAFE_DATABASE_URL": url}, data_dir=Path(tmp))
            installation, _ = initialise(settings)
            local = Principal.local("bench")
            create_account(installation, local, "bench-account")
            uid = create_stack(installation, local, "bench-account", "web", "production").uid
            installation.close()
            found: dict[str, list[float]] = {"cursor": [], "libpq": []}
            for _ in range(args.rounds):
                for way, figures in found.items():
                    figures.append(asyncio.run(_per_read(url, uid, args.reads, way)))
    where = "STACKSAFE_BENCH_PG_URL" if os.environ.get(PG_ENV) else "a throwaway cluster"
    print(f"# CPU per one-statement read on the event loop ({where})\n")
    print(f"{args.rounds} round(s) of {args.reads} reads each, one at a time, medians.\n")
    print("| way | µs CPU per read | rounds |")
    print("|---|---:|---|")
    for way, figures in found.items():
        shown = ", ".join(f"{f:.1f}" for f in figures)
        print(f"| {way} | {statistics.median(figures):.1f} | {shown} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
