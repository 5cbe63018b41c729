"""`stacksafe serve` itself: refusals before listening, readiness, several worker processes."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import Cli, error_line
from tests.e2e.conftest import (
    START_TIMEOUT,
    Launcher,
    Served,
    TlsFiles,
    init_and_seed,
    is_listening,
    stack_uid,
    trusting,
)

BAD_REQUEST, CONFIGURATION = 2, 7
WRITES = 12  # concurrent write-and-reveal round trips through the two workers


def test_plain_http_on_a_public_address_is_refused(launch: Launcher, tmp_path: Path) -> None:
    cli = Cli(tmp_path / "data")
    server = launch(cli, ["--host", "0.0.0.0"], scheme="http")  # noqa: S104 - the point
    assert server.wait_exit() == CONFIGURATION
    message = error_line(server.stderr())
    assert "plain HTTP" in message
    assert "--tls-cert" in message
    assert not is_listening(server.port)
    assert not (tmp_path / "data").exists()  # refused before touching anything


def test_insecure_allows_plain_http_on_a_public_address(launch: Launcher, tmp_path: Path) -> None:
    cli = Cli(tmp_path / "data")
    cli.in_process().ok("init")
    server = launch(cli, ["--host", "0.0.0.0", "--insecure"], scheme="http")  # noqa: S104
    server.wait_healthy(verify=False)
    assert httpx.get(f"{server.address}/readyz", timeout=5).status_code == 200
    assert "http://0.0.0.0:" in server.stderr()


@pytest.mark.parametrize("option", ["--tls-cert", "--tls-key"])
def test_half_a_tls_configuration_is_refused(
    option: str, launch: Launcher, tls: TlsFiles, tmp_path: Path
) -> None:
    given = tls.cert if option == "--tls-cert" else tls.key
    server = launch(Cli(tmp_path / "data"), [option, str(given)])
    assert server.wait_exit() == BAD_REQUEST
    assert "--tls-cert and --tls-key" in error_line(server.stderr())
    assert not is_listening(server.port)


def test_a_missing_tls_file_is_refused(launch: Launcher, tls: TlsFiles, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    server = launch(Cli(tmp_path / "data"), ["--tls-cert", str(missing), "--tls-key", str(tls.key)])
    assert server.wait_exit() == CONFIGURATION
    assert str(missing) in error_line(server.stderr())
    assert not is_listening(server.port)


def test_readyz_on_the_running_server(served: Served) -> None:
    answer = httpx.get(f"{served.address}/readyz", verify=trusting(served.ca), timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ready",
        "checks": {"database": "ok", "master_key": "ok", "audit": "ok", "audit_checkpoint": "ok"},
    }
    schema = httpx.get(f"{served.address}/api/3/openapi.json", verify=trusting(served.ca))
    assert schema.status_code == 200
    assert "/api/3/stacks/{stack_uid}/secrets/{key}" in schema.json()["paths"]


def test_the_tls_port_does_not_speak_plain_http(served: Served) -> None:
    plain = served.address.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{plain}/healthz", timeout=5)


def _children(pid: int) -> set[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return set()
    return {int(p) for p in text.split()}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_two_workers_serve_requests(
    database_url: str, tls: TlsFiles, launch: Launcher, tmp_path: Path
) -> None:
    cli = Cli(tmp_path / "data", database_url)
    token = init_and_seed(cli)
    web = stack_uid(cli, "web")
    server = launch(cli, ["--workers", "2", "--tls-cert", str(tls.cert), "--tls-key", str(tls.key)])
    server.wait_healthy(trusting(tls.ca))
    assert "(2 worker(s))" in server.stderr()
    deadline = time.monotonic() + START_TIMEOUT
    while len(_children(server.process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = _children(server.process.pid)
    assert len(workers) >= 2

    from stacksafe.client import Client

    def write_and_read(n: int) -> str:
        # A new connection per call: the requests spread over both worker processes.
        with Client(server.address, token, ca_bundle=str(tls.ca), timeout=20) as client:
            client.set_secret(f"WORKER_{n}", f"value {n}", stack=web)
            found = client.get_secret(f"WORKER_{n}", stack=web, reveal=True)
            assert found.raw_value is not None
            return found.raw_value.reveal()

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(write_and_read, range(WRITES)))
    assert results == [f"value {n}" for n in range(WRITES)]

    with Client(server.address, token, ca_bundle=str(tls.ca)) as client:
        revealed = client.reveal(stack=web)
    assert {k: v.reveal() for k, v in revealed.items() if k.startswith("WORKER_")} == {
        f"WORKER_{n}": f"value {n}" for n in range(WRITES)
    }
    # Both processes appended to one hash chain: still intact.
    assert cli.in_process().ok("audit", "verify").stdout.startswith("Audit log intact: ")

    server.stop()
    deadline = time.monotonic() + START_TIMEOUT
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers), "worker processes outlived the server"
