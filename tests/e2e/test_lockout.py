"""One address cannot lock everyone out: real ``stacksafe serve`` processes, real TLS, one
database. Every request here comes from 127.0.0.1, as every request comes from the load
balancer's address behind one: a flood of bad tokens is answered 429, and a valid token from
the same address is still answered; the failures one server counted weigh on the other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stacksafe.api.app import BAD_TOKEN_LIMIT
from tests.cli.helpers import Cli
from tests.e2e.conftest import Launcher, ServerProcess, TlsFiles, init_and_seed, stack_uid, trusting

BAD = "ssk_" + "z" * 43


@pytest.fixture
def two_servers(
    database_url: str, tls: TlsFiles, launch: Launcher, tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess, str, str]]:
    cli = Cli(tmp_path / "data", database_url)
    token = init_and_seed(cli)
    web = stack_uid(cli, "web")
    tls_args = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
    servers = (launch(cli, tls_args), launch(cli, tls_args))
    for server in servers:
        server.wait_healthy(trusting(tls.ca))
    yield servers[0], servers[1], token, web
    assert cli.in_process().ok("audit", "verify").stdout.startswith("Audit log intact: ")


def _client(server: ServerProcess, token: str, tls: TlsFiles) -> httpx.Client:
    return httpx.Client(
        base_url=server.address,
        headers={"Authorization": f"Bearer {token}"},
        verify=trusting(tls.ca),
        timeout=30,
    )


def test_a_valid_token_is_answered_after_a_flood_of_bad_ones_from_its_address(
    two_servers: tuple[ServerProcess, ServerProcess, str, str], tls: TlsFiles
) -> None:
    first, second, token, web = two_servers
    url = f"/api/3/stacks/{web}/secrets?reveal=true"
    with _client(first, BAD, tls) as attacker:
        answers = [attacker.get(url) for _ in range(100)]
    codes = [a.status_code for a in answers]
    assert set(codes) == {401, 429}
    assert codes[-1] == 429
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert answers[-1].json()["error"] == "throttled"

    for server in (first, second):
        with _client(server, token, tls) as user:
            answer = user.get(url)
            assert answer.status_code == 200, answer.text
            assert user.put(
                f"/api/3/stacks/{web}/secrets/AFTER_FLOOD", json={"raw_value": "still-served"}
            ).status_code in (200, 201)

    # The other server counts from what the first one counted: a process of its own would
    # answer BAD_TOKEN_LIMIT bad tokens with 401 before its first 429.
    with _client(second, BAD, tls) as attacker:
        until_throttled = 0
        while attacker.get(url).status_code == 401:
            until_throttled += 1
            assert until_throttled < BAD_TOKEN_LIMIT
