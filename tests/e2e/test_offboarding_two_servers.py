"""Offboarding behind a load balancer: two `stacksafe serve` processes on one database.

Each server keeps what it checked before: a token's principal (core/known_tokens.py), a
stack's opened values (core/read_cache.py), a KV path's stack uid (core/kv/paths.py). A user
removed through one server must be refused by the other on its very next request, token and
web session alike, and a stack deleted through one must not be served by the other.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from stacksafe.client import Client
from stacksafe.errors import NotFound, Unauthenticated
from tests.e2e.conftest import (
    RemoteCli,
    ServedPair,
    ServerProcess,
    TlsFiles,
    new_account,
    only_stack,
    trusting,
)

DEV = "dev@acme.test"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def pair_measured() -> bool:
    return False  # two servers answering the same requests (see start_serve): untraced


def _client(server: ServerProcess, token: str, tls: TlsFiles) -> Client:
    return Client(server.address, token, ca_bundle=str(tls.ca), timeout=30)


def _signed_in(server: ServerProcess, tls: TlsFiles) -> httpx.Client:
    """A browser-like client signed in to ``server``'s web UI as DEV (cookies kept)."""
    browser = httpx.Client(base_url=server.address, verify=trusting(tls.ca), timeout=30)
    page = browser.get("/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert csrf is not None, page.text
    answer = browser.post(
        "/sign-in",
        data={"email": DEV, "password": PASSWORD, "csrf": csrf.group(1)},
        headers={"Origin": server.address},
    )
    assert (answer.status_code, answer.headers.get("location")) == (303, "/"), answer.text
    assert browser.get("/", follow_redirects=False).status_code == 200
    return browser


def test_a_removed_users_token_and_session_fail_on_the_next_request_to_either_server(
    served_pair: ServedPair, tls: TlsFiles, tmp_path: Path
) -> None:
    fast = served_pair.local.in_process()
    web = new_account(served_pair.local, "offboarded")
    fast.ok("users", "create", DEV, "--account", "offboarded", "--role", "developer")
    fast.ok("users", "set-password", DEV, "--stdin", input=PASSWORD)
    token = fast.ok("tokens", "create", "--user", DEV, "--scope", "public", "--scope", "admin")
    dev_token = token.stdout.strip()
    with _client(served_pair.first, served_pair.token, tls) as owner:
        owner.set_secret("KEY", "value", stack=web)
    clients = [_client(server, dev_token, tls) for server in served_pair.servers]
    browsers = [_signed_in(server, tls) for server in served_pair.servers]
    try:
        for client in clients:  # each server keeps the token's principal and the level
            for _ in range(2):
                assert client.reveal(stack=web)["KEY"].reveal() == "value"

        # Removed through the first server, by the owner's remote CLI.
        remote = RemoteCli(
            tmp_path / "remote",
            address=served_pair.first.address,
            token=served_pair.token,
            ca_bundle=str(tls.ca),
        ).in_process()
        done = remote.ok("users", "remove", DEV).stdout
        assert done.startswith(f"Removed {DEV}: 1 token(s) revoked, 2 web session(s) ended")

        for client in reversed(clients):  # the second server first: it was told nothing
            with pytest.raises(Unauthenticated):
                client.reveal(stack=web)
            with pytest.raises(Unauthenticated):
                client.stacks()
        for browser in browsers:
            after = browser.get("/", follow_redirects=False)
            assert after.status_code == 303
            assert after.headers["location"].startswith("/sign-in")
    finally:
        for client in clients:
            client.close()
        for browser in browsers:
            browser.close()
    events = fast.json("audit", "list", "--format", "json", "--actor", DEV, "--limit", "5")
    assert all(e["outcome"] == "ok" for e in events)  # the refused requests authenticated nobody


def test_a_stack_deleted_through_one_server_is_not_served_by_the_other(
    served_pair: ServedPair, tls: TlsFiles
) -> None:
    web = new_account(served_pair.local, "deleted")
    kv_path = "/v1/secret/data/deleted/web"
    headers = {"X-Vault-Token": served_pair.token}
    with (
        _client(served_pair.first, served_pair.token, tls) as first,
        _client(served_pair.second, served_pair.token, tls) as second,
        httpx.Client(
            base_url=served_pair.second.address, verify=trusting(tls.ca), headers=headers
        ) as vault,
    ):
        first.set_secret("OLD", "old-value", stack=web)
        for _ in range(3):  # kept by the second server: the level, its page, the path's uid
            assert second.reveal(stack=web)["OLD"].reveal() == "old-value"
            assert vault.get(kv_path).json()["data"]["data"] == {"OLD": "old-value"}

        deleted = first.delete_stack(web, force=True)

        assert deleted.destroyed == {"OLD": (1,)}
        with pytest.raises(NotFound):
            second.reveal(stack=web)
        assert vault.get(kv_path).status_code == 404
        # The same name again is a new stack, served as such by the second server at once.
        first.create_stack("web", account="deleted", environment="production")
        fresh = only_stack(served_pair.local, "deleted")
        first.set_secret("NEW", "new-value", stack=fresh)
        assert vault.get(kv_path).json()["data"]["data"] == {"NEW": "new-value"}
        assert {k: v.reveal() for k, v in second.reveal(stack=fresh).items()} == {
            "NEW": "new-value"
        }
