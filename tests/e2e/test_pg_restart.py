"""A `stacksafe serve` survives PostgreSQL restarting underneath it, or turning read-only.

The test has a PostgreSQL cluster of its own (the session's is shared, so it is never stopped):
it writes and reveals through a real server over TLS, stops the cluster with ``pg_ctl stop -m
fast`` (every connection cut, as in a restart or a failover), and checks that every kind of
request gets a prompt ``503 storage_unavailable`` with ``Retry-After``, never a 500 or a hang.
Once the cluster is started again, the same server process serves reads, writes and reveals
(the audit group commit's writer thread lived through it) without being restarted, nothing
acknowledged before the outage is lost, the write refused during it was not made, and
``audit verify`` passes. A cluster that turns read-only (``default_transaction_read_only``, as
a standby does) refuses writes and reveals with ``database is read-only`` while masked reads go on.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from stacksafe.client import Client
from stacksafe.errors import ConfigurationError, NotFound, StorageUnavailable
from tests.cli.helpers import Cli
from tests.e2e.conftest import (
    Launcher,
    RemoteCli,
    ServerProcess,
    TlsFiles,
    init_and_seed,
    stack_uid,
    trusting,
)
from tests.postgres import Cluster, throwaway_cluster

OUTAGE_ANSWER_SECONDS = 5.0  # a request during the outage is answered within this
RECOVERY_SECONDS = 60.0  # the server serves again within this after PostgreSQL is back
BEFORE = 12  # secrets written (and acknowledged) before the outage


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    """A cluster of this module's own, which its tests stop and start."""
    with throwaway_cluster() as cluster:
        yield cluster


@dataclass
class Running:
    server: ServerProcess
    cli: Cli
    token: str
    web: str
    tls: TlsFiles

    def client(self) -> Client:
        return Client(self.server.address, self.token, ca_bundle=str(self.tls.ca), timeout=30)

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server.address,
            headers={"Authorization": f"Bearer {self.token}"},
            verify=trusting(self.tls.ca),
            timeout=30,
        )

    def audit_events(self) -> int:
        verified = self.cli.in_process().ok("audit", "verify").stdout
        match = re.match(r"Audit log intact: (\d+) events", verified)
        assert match is not None, verified
        return int(match.group(1))


_databases = itertools.count(1)


@pytest.fixture
def running(own_cluster: Cluster, tls: TlsFiles, launch: Launcher, tmp_path: Path) -> Running:
    url = own_cluster.create_database(f"stacksafe_faults_{next(_databases)}")
    cli = Cli(tmp_path / "data", url)
    token = init_and_seed(cli)
    web = stack_uid(cli, "web")
    server = launch(cli, ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)])
    server.wait_healthy(trusting(tls.ca))
    return Running(server, cli, token, web, tls)


def _refused_promptly(response_of: httpx.Response, started: float) -> None:
    elapsed = time.monotonic() - started
    assert elapsed < OUTAGE_ANSWER_SECONDS, f"answered after {elapsed:.1f} s"
    assert response_of.status_code == 503, response_of.text
    body = response_of.json()
    assert body["error"] == "storage_unavailable"
    assert body["error_description"].startswith("database unavailable")
    assert response_of.headers["Retry-After"] == "2"
    assert "postgres" not in response_of.text  # no URL, user or driver text for clients


def test_the_server_survives_postgresql_restarting_underneath_it(
    running: Running, own_cluster: Cluster
) -> None:
    web = running.web
    secrets_url = f"/api/3/stacks/{web}/secrets"
    with running.client() as client:
        for n in range(BEFORE):
            client.set_secret(f"BEFORE_{n}", f"value {n}", stack=web)
        assert len(client.reveal(stack=web)) == BEFORE
    events_before = running.audit_events()

    own_cluster.stop()

    with running.http() as http:
        for method, path, body in [
            ("GET", secrets_url, None),  # masked list
            ("GET", f"{secrets_url}?reveal=true", None),  # a reveal
            ("GET", f"{secrets_url}/BEFORE_0", None),  # one key's metadata
            ("PUT", f"{secrets_url}/DURING", {"raw_value": "never stored"}),  # a write
        ]:
            started = time.monotonic()
            answer = http.request(method, path, json=body)
            _refused_promptly(answer, started)
            assert "never stored" not in answer.text
            assert "value 0" not in answer.text
    # The SDK raises the same error the server named, and the CLI exits with its own code.
    with running.client() as client, pytest.raises(StorageUnavailable, match="unavailable"):
        client.reveal(stack=web)
    remote = RemoteCli(
        running.cli.data_dir.parent / "remote",
        address=running.server.address,
        token=running.token,
        ca_bundle=str(running.tls.ca),
    ).in_process()
    refused = remote.fails(StorageUnavailable.exit_code, "secrets", "list", "--stack", "web")
    assert "database unavailable" in refused.stderr
    assert StorageUnavailable.exit_code == 9
    # In local mode the CLI opens the database itself, and says which one it cannot open.
    local = running.cli.in_process().invoke("secrets", "list", "--stack", "web")
    assert local.exit_code == ConfigurationError.exit_code, local
    assert "cannot open the database postgresql+psycopg://postgres@127.0.0.1" in local.stderr

    own_cluster.start()

    # Poll until the same server process answers again (no restart of stacksafe).
    deadline = time.monotonic() + RECOVERY_SECONDS
    last = ""
    with running.http() as http:
        while True:
            answer = http.get(secrets_url)
            if answer.status_code == 200:
                break
            last = f"{answer.status_code} {answer.text[:200]}"
            assert answer.status_code == 503, last  # on the way back: 503s only, never a 500
            assert time.monotonic() < deadline, f"no recovery in {RECOVERY_SECONDS} s: {last}"
            time.sleep(0.1)
    assert running.server.process.poll() is None

    with running.client() as client:
        # Nothing acknowledged before the outage is lost; the refused write was not made.
        revealed = client.reveal(stack=web)
        assert {k: v.reveal() for k, v in revealed.items()} == {
            f"BEFORE_{n}": f"value {n}" for n in range(BEFORE)
        }
        with pytest.raises(NotFound):
            client.get_secret("DURING", stack=web)
        # Writes work again, and reveals: concurrent ones share the audit group commit, whose
        # writer thread saw the outage fail its groups and must still be there.
        client.set_secret("AFTER", "after value", stack=web)

    def reveal_after(_: int) -> str:
        with running.client() as each:
            return each.reveal(stack=web)["AFTER"].reveal()

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(reveal_after, range(8))) == ["after value"] * 8

    # The audit chain is intact and holds exactly what succeeded: the first reveal after
    # the outage, one write, eight reveals; nothing from the refused requests.
    assert running.audit_events() == events_before + 1 + 1 + 8


def test_a_read_only_postgresql_refuses_writes_and_reveals_and_keeps_reads(
    running: Running, own_cluster: Cluster
) -> None:
    web = running.web
    secrets_url = f"/api/3/stacks/{web}/secrets"
    with running.client() as client:
        client.set_secret("KEPT", "kept value", stack=web)
        assert client.reveal(stack=web)["KEPT"].reveal() == "kept value"
    events_before = running.audit_events()

    def read_only(on: bool) -> None:
        with own_cluster.admin() as admin:
            admin.execute(
                f"ALTER SYSTEM SET default_transaction_read_only = {'on' if on else 'off'}"
            )
            admin.execute("SELECT pg_reload_conf()")

    probes_made = 0
    read_only(True)
    try:
        with running.http() as http:
            # A session takes the reloaded setting before its next command but one: probe
            # with a write until one is refused (each probe that got through is counted).
            deadline = time.monotonic() + RECOVERY_SECONDS
            while True:
                probe = http.put(f"{secrets_url}/PROBE", json={"raw_value": "probe"})
                if probe.status_code != 200:
                    break
                probes_made += 1
                assert time.monotonic() < deadline, "the cluster never turned read-only"
                time.sleep(0.05)
            for refused in (
                probe,
                http.put(f"{secrets_url}/DURING", json={"raw_value": "never stored"}),
                http.get(f"{secrets_url}?reveal=true"),  # its audit event cannot be written
                http.get(f"{secrets_url}/KEPT?reveal=true"),
            ):
                assert refused.status_code == 503, refused.text
                assert refused.json()["error"] == "storage_unavailable"
                assert refused.json()["error_description"].startswith("database is read-only")
                assert refused.headers["Retry-After"] == "2"
                assert "kept value" not in refused.text
            listed = http.get(secrets_url)
            assert listed.status_code == 200, listed.text
            assert "KEPT" in {s["key"] for s in listed.json()["response"]}
            assert http.get(f"{secrets_url}/KEPT/versions").status_code == 200
    finally:
        read_only(False)

    deadline = time.monotonic() + RECOVERY_SECONDS
    with running.client() as client:
        while True:  # refused attempts make nothing; the one that succeeds makes AFTER
            try:
                client.set_secret("AFTER", "after value", stack=web)
                break
            except StorageUnavailable:
                assert time.monotonic() < deadline, "writes never worked again"
                time.sleep(0.05)
        with pytest.raises(NotFound):
            client.get_secret("DURING", stack=web)
        revealed = {k: v.reveal() for k, v in client.reveal(stack=web).items()}
    assert revealed == {
        "KEPT": "kept value",
        "AFTER": "after value",
        **({"PROBE": "probe"} if probes_made else {}),
    }
    # Intact, and exactly what succeeded: the probes that got through, AFTER, the reveal.
    assert running.audit_events() == events_before + probes_made + 2
