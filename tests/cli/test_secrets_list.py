"""`secrets list` (local mode): where each key comes from (own, inherited, overriding the
account's), its real version, and an account secret's environments, in the table and in JSON
(the API's envelope: six-field secrets in "response", the rest by key in "meta")."""

from __future__ import annotations

from tests.cli.helpers import Cli, InProcessCli

WEB = ("--stack", "web")


def _rows(table: str) -> dict[str, list[str]]:
    """Key → the cells of its row (cells are separated by two spaces or more)."""
    lines = table.splitlines()
    return {
        cells[0]: cells
        for cells in ([c.strip() for c in line.split("  ") if c.strip()] for line in lines[1:])
    }


def test_list_says_which_keys_override_the_account_and_their_versions(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    run = cli_runner
    run.ok("secrets", "set", "SHARED=a", "--account", "acme")
    run.ok("secrets", "set", "STAGING=s", "--account", "acme", "--environment", "staging")
    run.ok("secrets", "set", "SHARED=own 1", *WEB)
    run.ok("secrets", "set", "SHARED=own 2", *WEB)
    run.ok("secrets", "set", "STAGING=w", *WEB)  # web is production: nothing to override
    run.ok("secrets", "set", "INHERITED=i", "--account", "acme")

    rows = _rows(run.ok("secrets", "list", *WEB).stdout)
    assert rows["SHARED"][1:3] == ["overrides account", "2"]
    assert rows["STAGING"][1:3] == ["stack", "1"]
    assert rows["INHERITED"][1:3] == ["account", "1"]

    listed = run.json("secrets", "list", *WEB, "--format", "json")
    assert set(listed) == {"response", "count", "meta"}
    assert listed["count"] == 3
    assert all(
        set(item) == {"key", "value", "raw_value", "inherited", "created_at_iso", "updated_at_iso"}
        for item in listed["response"]
    )
    assert listed["meta"] == {
        "INHERITED": {"version": 1, "overrides": False, "environments": None},
        "SHARED": {"version": 2, "overrides": True, "environments": None},
        "STAGING": {"version": 1, "overrides": False, "environments": None},
    }


def test_account_list_shows_environment_restrictions(seeded: Cli, cli_runner: InProcessCli) -> None:
    run = cli_runner
    run.ok("secrets", "set", "EVERYWHERE=e", "--account", "acme")
    run.ok(
        "secrets", "set", "LIVE=l", "--account", "acme", "--environment", "staging",
        "--environment", "production",
    )  # fmt: skip

    table = run.ok("secrets", "list", "--account", "acme").stdout
    assert table.splitlines()[0].split() == [
        "KEY", "FROM", "VERSION", "ENVIRONMENTS", "UPDATED", "VALUE",
    ]  # fmt: skip
    rows = _rows(table)
    assert rows["LIVE"][1:4] == ["account", "1", "production staging"]
    assert rows["EVERYWHERE"][1:4] == ["account", "1", "all"]
    meta = run.json("secrets", "list", "--account", "acme", "--format", "json")["meta"]
    assert meta["LIVE"]["environments"] == ["production", "staging"]
    assert meta["EVERYWHERE"]["environments"] is None
