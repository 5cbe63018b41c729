"""`stacksafe serve` itself: refusals before listening, readiness, several worker processes,
stopping on SIGTERM; what a client is told when the server's certificate fails verification."""

from __future__ import annotations

import re
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
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

BAD_REQUEST, CONFIGURATION, ADDRESS_UNAVAILABLE = 2, 7, 10
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


def test_swapped_tls_files_are_one_line(launch: Launcher, tls: TlsFiles, tmp_path: Path) -> None:
    server = launch(
        Cli(tmp_path / "data"), ["--tls-cert", str(tls.key), "--tls-key", str(tls.cert)]
    )
    assert server.wait_exit() == CONFIGURATION
    message = error_line(server.stderr())
    assert "swapped" in message
    assert str(tls.key) in message
    assert not is_listening(server.port)


def test_a_busy_port_is_one_line_and_its_own_exit_code(launch: Launcher, tmp_path: Path) -> None:
    cli = Cli(tmp_path / "data")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = launch(cli, [], port=port, scheme="http")
        assert server.wait_exit() == ADDRESS_UNAVAILABLE
    message = error_line(server.stderr())
    assert f"127.0.0.1:{port}" in message
    assert "in use" in message
    assert not (tmp_path / "data").exists()  # refused before touching anything


HELD_BODY = b'{"raw_value": "kept"}'
_FIRST_TOKEN = re.compile(r"first API token tok_\w+[^\n]*\n\s+(\S+)")


def _held_request(port: int, token: str) -> socket.socket:
    """A PUT whose headers the server has read and whose body it is waiting for: uvicorn answers
    ``Expect: 100-continue`` only once the app asks for the body, so the request is in flight."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=START_TIMEOUT)
    conn.sendall(
        b"PUT /api/3/accounts/acme/secrets/HELD HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: Bearer {token}\r\n".encode()
        + f"Content-Type: application/json\r\nContent-Length: {len(HELD_BODY)}\r\n".encode()
        + b"Expect: 100-continue\r\n\r\n"
    )
    assert conn.recv(100).startswith(b"HTTP/1.1 100 ")
    return conn


def _answer(conn: socket.socket) -> bytes:
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    return received


def test_sigterm_finishes_requests_in_flight_within_a_bound_and_exits_0(
    launch: Launcher, tmp_path: Path
) -> None:
    cli = Cli(tmp_path / "data")
    token = _FIRST_TOKEN.search(cli.in_process().ok("init").stdout)
    assert token is not None
    fast = cli.in_process()
    fast.ok("accounts", "create", "acme")
    server = launch(cli, ["--shutdown-timeout", "2", "--rotation-interval", "0"], scheme="http")
    server.wait_healthy(verify=False)
    finishing = _held_request(server.port, token.group(1))
    stuck = _held_request(server.port, token.group(1))  # never sends its body

    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    while is_listening(server.port):  # stopped accepting: the shutdown has begun
        assert time.monotonic() - started < START_TIMEOUT
        time.sleep(0.05)
    finishing.sendall(HELD_BODY)
    answer = _answer(finishing)

    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert server.wait_exit() == 0  # not killed by the signal (was -15)
    # The request that never finished was cut at the bound (uvicorn answers it 500 and
    # closes), not waited for forever.
    assert time.monotonic() - started < 2 + START_TIMEOUT / 3
    assert _answer(stuck).startswith(b"HTTP/1.1 500 ")
    finishing.close()
    stuck.close()
    listed = fast.json("secrets", "list", "--account", "acme", "--format", "json")["response"]
    assert listed[0]["key"] == "HELD"


def test_the_sdk_hands_on_the_throttled_answers_retry_after(
    launch: Launcher, tmp_path: Path
) -> None:
    from stacksafe.client import Client
    from stacksafe.errors import Throttled

    cli = Cli(tmp_path / "data")
    token = _FIRST_TOKEN.search(cli.in_process().ok("init").stdout)
    assert token is not None
    server = launch(cli, ["--rate-limit", "1", "--rotation-interval", "0"], scheme="http")
    server.wait_healthy(verify=False)
    with Client(server.address, token.group(1)) as client:
        client.accounts()
        with pytest.raises(Throttled) as throttled:
            client.accounts()
    raw = httpx.get(
        f"{server.address}/api/3/accounts",
        headers={"Authorization": f"Bearer {token.group(1)}"},
        timeout=5,
    )
    assert raw.status_code == 503
    wait = int(raw.headers["retry-after"])
    assert throttled.value.retry_after is not None
    # The SDK's answer came first: the raw one's wait may be shorter (a second boundary passed
    # between them, as on a loaded machine) or longer (one more hit counted), never by much.
    assert wait - 5 <= throttled.value.retry_after <= wait + 5
    assert f"retry in {throttled.value.retry_after} s" in throttled.value.message


# The three tests on ``served``: SQLite only (tests/conftest.py, DATABASES), as they test the
# served process and what a client is told; readiness on both databases is in tests/api.
@pytest.mark.databases("sqlite")
def test_readyz_on_the_running_server(served: Served) -> None:
    answer = httpx.get(f"{served.address}/readyz", verify=trusting(served.ca), timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ready",
        "checks": {"database": "ok", "master_key": "ok", "audit": "ok", "audit_checkpoint": "ok"},
        "audit_sinks": {},
    }
    schema = httpx.get(f"{served.address}/api/3/openapi.json", verify=trusting(served.ca))
    assert schema.status_code == 200
    assert "/api/3/stacks/{stack_uid}/secrets/{key}" in schema.json()["paths"]


@pytest.mark.databases("sqlite")
def test_a_certificate_that_fails_verification_is_named_as_such(
    served: Served, tmp_path: Path
) -> None:
    from stacksafe.client import Client
    from stacksafe.errors import ConfigurationError, ServerUnreachable

    with (
        pytest.raises(ServerUnreachable) as refused,
        Client(served.address, served.token) as untrusting,
    ):
        untrusting.stacks()
    message = refused.value.message
    assert "certificate" in message
    assert "failed verification" in message
    assert "STACKSAFE_CA_BUNDLE" in message
    assert "cannot reach" not in message

    remote = served.remote(None, tmp_path / "remote")
    cli = remote.in_process()
    without_ca = replace(cli, ca_bundle="")
    failed = without_ca.fails(CONFIGURATION, "stacks", "list")
    assert "failed verification" in error_line(failed.stderr)
    missing = tmp_path / "no-such-ca.pem"
    gone = replace(cli, ca_bundle=str(missing)).fails(CONFIGURATION, "stacks", "list")
    line = error_line(gone.stderr)
    assert str(missing) in line
    assert "STACKSAFE_CA_BUNDLE" in line
    with pytest.raises(ConfigurationError, match=r"no-such-ca\.pem"):
        Client(served.address, served.token, ca_bundle=str(missing))


@pytest.mark.databases("sqlite")
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
