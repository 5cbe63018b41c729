"""A throwaway PostgreSQL cluster for the test session: initdb + pg_ctl on a temporary directory.

Runs the server binaries as the ``postgres`` user when the tests run as root (initdb refuses
root). Missing binaries are a test failure with instructions, never a silent skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import psycopg

# An autocommit connection to the cluster's ``postgres`` database as its superuser.
Admin = psycopg.Connection[tuple[object, ...]]


def _find_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if candidates:
        return candidates[-1]
    raise RuntimeError(
        f"PostgreSQL server binary {name!r} not found: install PostgreSQL "
        "(apt-get install -y postgresql); .ci/run does this on CI"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Cluster:
    host: str
    port: int
    user: str
    # Where the cluster lives, for stop() and start() (a test that restarts its own cluster).
    data: Path | None = None

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self) -> Admin:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        )

    def create_database(
        self, name: str, template: str | None = None, admin: Admin | None = None
    ) -> str:
        """Create ``name`` empty, or as a copy of the database ``template`` (which nothing may
        be connected to meanwhile); on ``admin`` if given, else on a connection of its own."""
        # FILE_COPY copies the template's directory after a checkpoint (cheap with fsync off);
        # PostgreSQL 15's default, WAL_LOG, writes every page of it to the WAL instead.
        copy_of = "" if template is None else f' TEMPLATE "{template}" STRATEGY FILE_COPY'
        with self._on(admin) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy_of}')
        return self.url(name)

    def drop_database(self, name: str, admin: Admin | None = None) -> None:
        with self._on(admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _on(self, admin: Admin | None) -> AbstractContextManager[Admin]:
        return self.admin() if admin is None else nullcontext(admin)

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m MODE``: every connection is cut, as in a restart or a failover."""
        if self.data is None:
            raise RuntimeError("only a throwaway cluster can be stopped")
        _pg_ctl(self.data, "-m", mode, "stop")

    def start(self) -> None:
        """Start it again, on the same port and with the same options."""
        if self.data is None:
            raise RuntimeError("only a throwaway cluster can be started")
        _start(self.data, self.port)


def _prefix() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _pg_ctl(data: Path, *args: str) -> None:
    subprocess.run(
        [*_prefix(), _find_binary("pg_ctl"), "-D", str(data), "-w", *args],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _start(data: Path, port: int) -> None:
    base = data.parent
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
    _pg_ctl(data, "-l", str(base / "log"), "-o", options, "start")


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
    as_root = os.geteuid() == 0
    prefix = _prefix()
    base = Path(tempfile.mkdtemp(prefix="stacksafe-pg-"))
    if as_root:
        shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", _free_port()
    try:
        subprocess.run(
            [
                *prefix,
                initdb,
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        # Trust for the test's own superuser; members of ``password_login`` (roles the
        # rotation tests create) must give their password, so a wrong one really fails.
        hba = data / "pg_hba.conf"
        hba.write_text("host all +password_login 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        _start(data, port)
        try:
            yield Cluster("127.0.0.1", port, "postgres", data)
        finally:
            subprocess.run(
                [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                check=False,
                capture_output=True,
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
