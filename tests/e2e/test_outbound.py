"""A real `stacksafe serve` whose environment holds its own database credentials (PGPASSWORD,
PGPASSFILE, a ~/.pgpass in HOME, PGUSER) rotates a PostgreSQL secret whose admin connection a
user pointed at a host they control: a fake PostgreSQL server on loopback that asks for the
password in clear and records it. It must receive only the password the secret holds, and the
user's error must say nothing the driver found there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.helpers import Cli
from tests.e2e.conftest import Launcher, ServerProcess, TlsFiles, init_and_seed, trusting
from tests.pgwire import FakePostgres, fake_postgres
from tests.postgres import Cluster

AMBIENT = {
    "PGPASSWORD": "server-db-password-from-PGPASSWORD",
    "PGPASSFILE": "server-db-password-from-PGPASSFILE",
    "HOME": "server-db-password-from-home-pgpass",
}
WEB = ("--stack", "web")


def server_environment(tmp_path: Path) -> dict[str, str]:
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:*:{AMBIENT['PGPASSFILE']}\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".pgpass").write_text(f"*:*:*:*:{AMBIENT['HOME']}\n")
    for path in (passfile, home / ".pgpass"):
        path.chmod(0o600)
    return {
        "PGPASSWORD": AMBIENT["PGPASSWORD"],
        "PGPASSFILE": str(passfile),
        "HOME": str(home),
        "PGUSER": "server_db_user",
    }


def start(launch: Launcher, local: Cli, tls: TlsFiles, env: Mapping[str, str]) -> ServerProcess:
    server = launch(
        local,
        ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)],
        env=dict(env),
        measured=False,
    )
    server.wait_healthy(trusting(tls.ca))
    return server


def give_policy(local: Cli, fake: FakePostgres, admin_url: str) -> None:
    fast = local.in_process()
    fast.ok(
        "secrets",
        "set",
        f"DATABASE_URL=postgresql://app_a:app-pw@{fake.host}:{fake.port}/app",
        *WEB,
    )
    fast.ok("secrets", "set", f"PG_ADMIN_URL={admin_url}", *WEB)
    fast.ok(
        "rotation", "set", "DATABASE_URL", *WEB,
        "--rotator", "postgres", "--admin-key", "PG_ADMIN_URL", "--roles", "app_a,app_b",
    )  # fmt: skip


def rotate(server: ServerProcess, tls: TlsFiles, token: str, stack: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{server.address}/api/3/stacks/{stack}/secrets/DATABASE_URL/rotate",
        headers={"Authorization": f"Bearer {token}"},
        verify=trusting(tls.ca),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    outcome: dict[str, Any] = answer.json()["response"]
    assert outcome["outcome"] == "failed"
    return outcome


def web_uid(local: Cli) -> str:
    stacks = local.in_process().json("stacks", "list", "--account", "acme", "--format", "json")
    uid: str = next(s["uid"] for s in stacks if s["name"] == "web")
    return uid


# SQLite only (tests/conftest.py, DATABASES), this test and the next: what the rotator sends
# does not depend on the server's own database (tests/core/test_rotation_outbound.py runs the
# rotator on both); the server on PostgreSQL is the last test's subject.
@pytest.mark.databases("sqlite")
def test_a_served_rotation_sends_the_fake_server_only_the_configured_password(
    database_url: str, tls: TlsFiles, tmp_path: Path, launch: Launcher
) -> None:
    local = Cli(tmp_path / "data", database_url)
    token = init_and_seed(local)
    uid = web_uid(local)
    env = server_environment(tmp_path) | {"STACKSAFE_OUTBOUND_ALLOW": "127.0.0.1"}
    server = start(launch, local, tls, env)
    with fake_postgres() as fake:
        # A secret without its password (or user) is refused before any connection is made:
        # the code before this check let libpq fill in PGPASSWORD, the passfile or ~/.pgpass,
        # and PGUSER, and sent them here.
        for incomplete in (
            f"postgresql://rotator@127.0.0.1:{fake.port}/postgres",
            f"postgresql://127.0.0.1:{fake.port}/postgres",
        ):
            give_policy(local, fake, incomplete)
            refused = rotate(server, tls, token, uid)
            assert fake.responses() == []
            assert "must hold its own user and password" in refused["error"]

        admin = f"postgresql://rotator:configured-admin-pw@127.0.0.1:{fake.port}/postgres"
        local.in_process().ok("secrets", "set", f"PG_ADMIN_URL={admin}", *WEB)
        failed = rotate(server, tls, token, uid)
        assert fake.responses() == ["configured-admin-pw"]
        assert failed["error"] == (
            f"authentication as 'rotator' failed at the admin database at 127.0.0.1:{fake.port}"
        )
    assert [a.startup["user"] for a in fake.attempts] == ["rotator"]
    for password in AMBIENT.values():
        assert not fake.sent(password)
    server.stop()
    log = server.stderr()
    assert "configured-admin-pw" not in log
    assert "app-pw" not in log
    assert "authentication failed" in log  # the full reason is the operator's, in the log


@pytest.mark.databases("sqlite")
def test_a_served_rotation_by_default_does_not_connect_to_loopback_or_link_local(
    database_url: str, tls: TlsFiles, tmp_path: Path, launch: Launcher
) -> None:
    local = Cli(tmp_path / "data", database_url)
    token = init_and_seed(local)
    uid = web_uid(local)
    server = start(launch, local, tls, server_environment(tmp_path))
    with fake_postgres() as fake:
        give_policy(local, fake, f"postgresql://rotator:pw@127.0.0.1:{fake.port}/postgres")
        refused = rotate(server, tls, token, uid)
        assert refused["error"].startswith(
            f"127.0.0.1:{fake.port} is not a host stacksafe may connect to"
        )
        metadata = "postgresql://rotator:pw@169.254.169.254:5432/postgres"
        local.in_process().ok("secrets", "set", f"PG_ADMIN_URL={metadata}", *WEB)
        assert "169.254.169.254:5432 is not a host" in rotate(server, tls, token, uid)["error"]
    assert fake.attempts == []


def test_a_served_rotation_refuses_the_servers_own_database_even_in_an_allowed_network(
    pg_cluster: Cluster, tls: TlsFiles, tmp_path: Path, launch: Launcher
) -> None:
    """The server's database is on 127.0.0.1; the operator allows 127.0.0.0/8 (loopback), which
    does not name the database's address: a rotator reaches 127.0.0.2, never the database."""
    name = "stacksafe_e2e_outbound"
    database_url = pg_cluster.create_database(name)
    try:
        local = Cli(tmp_path / "data", database_url)
        token = init_and_seed(local)
        uid = web_uid(local)
        env = server_environment(tmp_path) | {"STACKSAFE_OUTBOUND_ALLOW": "127.0.0.0/8"}
        server = start(launch, local, tls, env)
        with fake_postgres(host="127.0.0.2") as fake:
            give_policy(local, fake, f"postgresql://rotator:pw@127.0.0.2:{fake.port}/postgres")
            reached = rotate(server, tls, token, uid)
            assert reached["error"].startswith("authentication as 'rotator' failed")
            assert fake.responses() == ["pw"]
            own = f"postgresql://postgres:pw@{pg_cluster.host}:{pg_cluster.port}/{name}"
            local.in_process().ok("secrets", "set", f"PG_ADMIN_URL={own}", *WEB)
            refused = rotate(server, tls, token, uid)
            assert refused["error"].startswith(
                f"{pg_cluster.host}:{pg_cluster.port} is not a host stacksafe may connect to"
            )
        server.stop()
        assert "the server's own database host" in server.stderr()  # why: for the operator
    finally:
        pg_cluster.drop_database(name)
