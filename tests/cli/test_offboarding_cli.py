"""`users list`, `users remove`, `users remove-role`, `stacks delete` and `accounts delete` in
local mode: what they print, their exit codes, and a refusal's one error line with nothing
changed. The rules themselves are tested on both databases in tests/core."""

from __future__ import annotations

import pytest

from tests.cli.helpers import Cli, InProcessCli, error_line

# CLI output and exit codes over core calls tests/core makes on both databases.
pytestmark = pytest.mark.databases("sqlite")


def _token_of(runner: InProcessCli, email: str) -> str:
    return runner.ok("tokens", "create", "--user", email, "--scope", "public").stdout.strip()


def test_users_list_and_remove(seeded: Cli, cli_runner: InProcessCli) -> None:
    cli_runner.ok("users", "create", "dev@acme.test", "--account", "acme", "--role", "developer")
    cli_runner.ok("users", "create", "ops@acme.test", "-a", "acme", "--stack-role", "web=operation")
    _token_of(cli_runner, "dev@acme.test")
    listed = cli_runner.json("users", "list", "--format", "json")
    by_email = {u["email"]: u for u in listed}
    assert by_email["dev@acme.test"]["accounts"][0]["role"] == "developer"
    assert by_email["ops@acme.test"]["stack_roles"][0]["role"] == "operation"
    table = cli_runner.ok("users", "list").stdout
    assert table.splitlines()[0].split() == ["EMAIL", "OWNER", "ACCOUNTS", "STACK", "ROLES"]
    assert "acme:developer" in table

    removed = cli_runner.ok("users", "remove", "dev@acme.test").stdout
    assert removed == (
        "Removed dev@acme.test: 1 token(s) revoked, 0 web session(s) ended, "
        "1 membership(s) and 0 stack role(s) deleted\n"
    )
    assert "dev@acme.test" not in cli_runner.ok("users", "list").stdout
    [revoked] = [
        t
        for t in cli_runner.json("tokens", "list", "--format", "json")
        if t["user"] == "dev@acme.test"
    ]
    assert revoked["revoked_at_iso"] is not None
    again = cli_runner.fails(3, "users", "remove", "dev@acme.test")
    assert error_line(again.stderr) == "Error: user 'dev@acme.test' does not exist"
    events = cli_runner.json("audit", "list", "--format", "json", "--limit", "3")
    assert events[0]["action"] == "user.remove"
    assert events[0]["detail"]["user"] == "dev@acme.test"


def test_users_remove_role(seeded: Cli, cli_runner: InProcessCli) -> None:
    cli_runner.ok(
        "users",
        "create",
        "dev@acme.test",
        "-a",
        "acme",
        "--role",
        "viewer",
        "--stack-role",
        "web=developer",
    )
    stack = cli_runner.ok("users", "remove-role", "dev@acme.test", "--stack", "web").stdout
    assert stack == "Removed dev@acme.test's role developer in stack 'web'\n"
    account = cli_runner.ok("users", "remove-role", "dev@acme.test", "--account", "acme").stdout
    assert account == "Removed dev@acme.test from account 'acme' (was viewer)\n"
    refused = cli_runner.fails(3, "users", "remove-role", "dev@acme.test", "--account", "acme")
    assert "has no role in account 'acme'" in error_line(refused.stderr)
    bare = cli_runner.fails(2, "users", "remove-role", "dev@acme.test")
    assert "--account ACCOUNT or --stack STACK" in error_line(bare.stderr)


def test_the_owner_cannot_be_removed(seeded: Cli, cli_runner: InProcessCli) -> None:
    owner = next(u for u in cli_runner.json("users", "list", "--format", "json") if u["is_owner"])
    refused = cli_runner.fails(4, "users", "remove", owner["email"])
    assert error_line(refused.stderr) == "Error: the server owner cannot be removed"


def test_stacks_delete_is_refused_while_it_holds_values_then_forced(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    cli_runner.ok("secrets", "set", "A=one", "--stack", "web")
    cli_runner.ok("secrets", "set", "B=two", "--stack", "web")
    cli_runner.ok("secrets", "set", "A=three", "--stack", "web")
    before = cli_runner.json("audit", "list", "--format", "json", "--limit", "1")[0]["seq"]
    refused = cli_runner.fails(5, "stacks", "delete", "web", "--account", "acme")
    assert error_line(refused.stderr) == (
        "Error: stack 'web' holds values of 2 key(s) (A, B), current or in history; nothing "
        "was deleted: give --force to destroy them and delete it"
    )
    assert cli_runner.json("audit", "list", "--format", "json", "--limit", "1")[0]["seq"] == before
    assert cli_runner.revealed("--stack", "web") == {"A": "three", "B": "two"}

    done = cli_runner.ok("stacks", "delete", "web", "--force").stdout
    assert done == (
        "Deleted stack 'web' of account 'acme'; destroyed 3 value(s) of 2 key(s) first\n"
    )
    assert cli_runner.json("stacks", "list", "--format", "json") == []
    events = cli_runner.json("audit", "list", "--format", "json", "--limit", "3")
    assert [e["action"] for e in events] == ["stack.delete", "secret.destroy", "secret.destroy"]
    gone = cli_runner.fails(3, "stacks", "delete", "web")
    assert error_line(gone.stderr) == "Error: stack 'web' does not exist"


def test_accounts_delete(seeded: Cli, cli_runner: InProcessCli) -> None:
    cli_runner.ok("secrets", "set", "SHARED=x", "--account", "acme")
    refused = cli_runner.fails(5, "accounts", "delete", "acme")
    assert "account 'acme' (with its stacks) holds values of 1 key(s) (SHARED)" in error_line(
        refused.stderr
    )
    done = cli_runner.ok("accounts", "delete", "acme", "--force").stdout
    assert done == (
        "Deleted account 'acme' with 1 stack(s); destroyed 1 value(s) of 1 key(s) first\n"
    )
    assert cli_runner.json("accounts", "list", "--format", "json") == []
    cli_runner.ok("accounts", "create", "acme")  # the name is free again


def test_what_stays_of_deleted_levels(seeded: Cli, cli_runner: InProcessCli) -> None:
    cli_runner.ok("secrets", "set", "A=one", "--stack", "web")
    cli_runner.ok("secrets", "set", "A=two", "--stack", "web")
    cli_runner.ok("secrets", "set", "SHARED=x", "--account", "acme")
    cli_runner.ok("stacks", "delete", "web", "--force")
    cli_runner.ok("stacks", "create", "web", "--account", "acme")  # the name is free again

    table = cli_runner.ok("stacks", "deleted", "--account", "acme").stdout.splitlines()
    assert table[0].split() == [
        "NAME", "UID", "ACCOUNT", "ENVIRONMENT", "DELETED", "KEYS", "VERSIONS"
    ]  # fmt: skip
    [row] = [line.split() for line in table[1:]]
    assert (row[0], row[2], row[3], row[5], row[6]) == ("web", "acme", "production", "1", "2")
    uid = row[1]
    shown = cli_runner.ok("stacks", "deleted", uid).stdout.splitlines()
    assert shown[0].startswith(f"Stack 'web' of account 'acme' (uid {uid}), deleted ")
    assert shown[0].endswith(": 1 key(s), 2 version row(s) kept, no value")
    assert [line.split()[:3] for line in shown[2:]] == [["A", "1", "set"], ["A", "2", "set"]]
    assert "one" not in "\n".join(shown)
    assert "two" not in "\n".join(shown)

    cli_runner.ok("accounts", "delete", "acme", "--force")
    [account] = cli_runner.json("accounts", "deleted", "--format", "json")
    assert (account["name"], account["kind"], account["keys"]) == ("acme", "account", 1)
    history = cli_runner.json("accounts", "deleted", account["uid"], "--format", "json")
    assert [(v["key"], v["version"]) for v in history["versions"]] == [("SHARED", 1)]
    # Both webs (the second deleted with its account) now name their account as deleted.
    listed = cli_runner.ok("stacks", "deleted").stdout.splitlines()[1:]
    assert [(r.split()[0], r.split()[-1]) for r in listed] == [("web", "2"), ("web", "0")]
    assert all("acme (deleted)" in r for r in listed)
    missing = cli_runner.fails(3, "stacks", "deleted", "f" * 32)
    assert error_line(missing.stderr) == f"Error: no deleted stack or account has uid '{'f' * 32}'"
