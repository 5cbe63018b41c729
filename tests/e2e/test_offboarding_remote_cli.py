"""`users list`, `users remove-role`, `users remove`, `stacks delete`, `accounts delete` and
what stays of deleted levels (`stacks deleted`, `accounts deleted`) in remote mode against a
real server: the same output as in local mode (tests/cli), stack names resolved to uids over
HTTP, a refusal's one error line and exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import error_line
from tests.e2e.conftest import RemoteCli, Served

# SQLite only (tests/conftest.py, DATABASES): the CLI in remote mode speaks HTTP; the server's
# answers on PostgreSQL are tests/api's and tests/e2e/test_offboarding_two_servers.py's.
pytestmark = pytest.mark.databases("sqlite")

DEV = "dev@acme.test"


def test_users_and_deletes_in_remote_mode(served_fresh: Served, tmp_path: Path) -> None:
    local = served_fresh.local.in_process()
    local.ok(
        "users", "create", DEV, "-a", "acme", "--role", "viewer", "--stack-role", "web=developer"
    )
    remote = served_fresh.remote(None, tmp_path / "remote").in_process()

    listed = {u["email"]: u for u in remote.json("users", "list", "--format", "json")}
    assert listed[DEV]["accounts"] == [
        {"uid": listed[DEV]["accounts"][0]["uid"], "name": "acme", "role": "viewer"}
    ]
    assert [r["role"] for r in listed[DEV]["stack_roles"]] == ["developer"]
    assert "acme:viewer" in remote.ok("users", "list").stdout

    done = remote.ok("users", "remove-role", DEV, "--stack", "web", "--account", "acme").stdout
    assert done == f"Removed {DEV}'s role developer in stack 'web'\n"
    done = remote.ok("users", "remove-role", DEV, "--account", "acme").stdout
    assert done == f"Removed {DEV} from account 'acme' (was viewer)\n"
    done = remote.ok("users", "remove", DEV).stdout
    assert done.startswith(f"Removed {DEV}: 0 token(s) revoked")
    assert DEV not in remote.ok("users", "list").stdout

    remote.ok("secrets", "set", "K=v", "--stack", "dev")
    refused = remote.fails(5, "stacks", "delete", "dev", "--account", "acme")
    assert error_line(refused.stderr) == (
        "Error: stack 'dev' holds values of 1 key(s) (K), current or in history; nothing was "
        "deleted: give --force to destroy them and delete it"
    )
    done = remote.ok("stacks", "delete", "dev", "--account", "acme", "--force").stdout
    assert done == "Deleted stack 'dev' of account 'acme'; destroyed 1 value(s) of 1 key(s) first\n"
    assert [s["name"] for s in remote.json("stacks", "list", "--format", "json")] == ["web"]
    # Its history rows stay, marked, over HTTP as in local mode: no value.
    [gone] = remote.json("stacks", "deleted", "--account", "acme", "--format", "json")
    assert (gone["name"], gone["keys"], gone["versions"]) == ("dev", 1, 1)
    history = remote.json("stacks", "deleted", gone["uid"], "--format", "json")
    assert [(v["key"], v["version"], v["action"]) for v in history["versions"]] == [("K", 1, "set")]
    assert history["versions"][0]["destroyed_at_iso"] is not None
    done = remote.ok("accounts", "delete", "acme").stdout
    assert done == "Deleted account 'acme' with 1 stack(s)\n"
    assert remote.json("accounts", "list", "--format", "json") == []
    assert [a["name"] for a in remote.json("accounts", "deleted", "--format", "json")] == ["acme"]


def test_a_non_owner_cannot_remove_users_or_delete_accounts(
    served_fresh: Served, tmp_path: Path
) -> None:
    local = served_fresh.local.in_process()
    local.ok("users", "create", "admin@acme.test", "-a", "acme", "--role", "administrator")
    token = local.ok(
        "tokens", "create", "--user", "admin@acme.test", "--scope", "public", "--scope", "admin"
    ).stdout.strip()
    remote = RemoteCli(
        tmp_path / "remote",
        address=served_fresh.address,
        token=token,
        ca_bundle=str(served_fresh.ca),
    ).in_process()
    refused = remote.fails(4, "users", "remove", "admin@acme.test")
    assert "only the server owner may remove users" in refused.stderr
    refused = remote.fails(4, "accounts", "delete", "acme", "--force")
    assert "only the server owner may delete accounts" in refused.stderr
