"""A workload logs in by itself (issue 19): ``STACKSAFE_JWT_ROLE`` and ``STACKSAFE_JWT_FILE``
against a real ``stacksafe serve``, no ``STACKSAFE_TOKEN`` anywhere. `stacksafe run` gets its
stack's values and nothing of another stack; `stacksafe login` prints a token that expires;
the SDK logs in again before its token expires (what keeps `run --watch` going for days)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacksafe.client import Client, JwtLogin
from stacksafe.errors import Unauthenticated
from tests.e2e.conftest import RemoteCli, Served, TlsFiles, serve_seeded
from tests.jwt_issuer import CLUSTER, Issuer, kubernetes_claims, trust_cluster

pytestmark = pytest.mark.databases("sqlite")  # core/workload runs on both databases


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture(scope="module")
def served_jwt(
    issuer: Issuer, tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("jwt-served")
    for served in serve_seeded(base, f"sqlite:///{base / 'stacksafe.db'}", tls):
        cli = served.local.in_process()
        trust_cluster(cli, issuer, base, {"shop-web": "15m", "short": "2s"})
        cli.ok("secrets", "set", "WEB_KEY=web-v", "--stack", "web", "--account", "acme")
        cli.ok("secrets", "set", "DEV_KEY=dev-v", "--stack", "dev", "--account", "acme")
        yield served


def _tokenless(served: Served, workdir: Path) -> RemoteCli:
    """The CLI in remote mode with no STACKSAFE_TOKEN at all."""
    return RemoteCli(workdir, address=served.address, token="", ca_bundle=str(served.ca))


def _jwt_file(issuer: Issuer, directory: Path) -> Path:
    path = directory / "token"
    path.write_text(issuer.sign(kubernetes_claims(CLUSTER)))
    return path


def test_run_logs_in_with_the_jwt_and_gets_its_stack_only(
    served_jwt: Served, issuer: Issuer, tmp_path: Path
) -> None:
    remote = _tokenless(served_jwt, tmp_path / "empty")
    env = {
        "STACKSAFE_JWT_ROLE": "shop-web",
        "STACKSAFE_JWT_FILE": str(_jwt_file(issuer, tmp_path)),
    }
    done = remote.run("run", "--stack", "web", "--account", "acme", "--", "env", env=env)
    assert done.returncode == 0, done.stderr
    assert "WEB_KEY=web-v" in done.stdout.splitlines()
    assert "STACKSAFE_JWT_FILE" not in done.stdout  # the child does not get the login's setup
    refused = remote.run("run", "--stack", "dev", "--account", "acme", "--", "env", env=env)
    assert refused.returncode != 0
    assert "dev-v" not in refused.stdout + refused.stderr
    # Without both variables there is nothing to log in with: one clear line.
    alone = remote.run("run", "--stack", "web", "--", "env", env={"STACKSAFE_JWT_ROLE": "shop-web"})
    assert alone.returncode != 0
    assert "STACKSAFE_JWT_FILE" in alone.stderr


def test_login_prints_a_token_that_expires(
    served_jwt: Served, issuer: Issuer, tmp_path: Path
) -> None:
    remote = _tokenless(served_jwt, tmp_path / "empty")
    done = remote.run(
        "login", "--role", "short", "--jwt-file", "-", input=issuer.sign(kubernetes_claims(CLUSTER))
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("ssk_")
    with served_jwt.client(token) as client:
        assert [s.name for s in client.stacks()] == ["web"]
        deadline = time.monotonic() + 20
        while True:  # the role's ttl is 2 s: bounded wait for the server to refuse it
            try:
                client.stacks()
            except Unauthenticated:
                break
            assert time.monotonic() < deadline, "the login's token did not expire"
            time.sleep(0.2)


def test_the_sdk_logs_in_again_before_the_token_expires(
    served_jwt: Served, issuer: Issuer, tmp_path: Path
) -> None:
    login = JwtLogin("short", str(_jwt_file(issuer, tmp_path)))
    with Client(served_jwt.address, login, ca_bundle=str(served_jwt.ca)) as client:
        first = client.bearer()
        seen = {first}
        deadline = time.monotonic() + 20
        while len(seen) < 3:  # ttl 2 s, renewed at 70 %: every request still goes through
            assert [s.name for s in client.stacks()] == ["web"]
            seen.add(client.bearer())
            assert time.monotonic() < deadline, "the SDK did not log in again"
            time.sleep(0.2)
