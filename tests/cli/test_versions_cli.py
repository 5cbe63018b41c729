"""`secrets history / rollback / undelete / destroy / max-versions` through the CLI (local)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.cli.helpers import Cli, InProcessCli, error_line
from tests.cli.main_in_process import MainInProcess

WEB = ("--stack", "web")
# The exit codes of the errors (StacksafeError.exit_code), as scripts rely on them.
BAD_INPUT, NOT_FOUND, CONFLICT = 2, 3, 5


def test_history_rollback_undelete_and_destroy(
    seeded_here: MainInProcess, cli_runner: InProcessCli
) -> None:
    run = cli_runner
    run.ok("secrets", "set", "TOKEN=first", *WEB)
    run.ok("secrets", "set", "TOKEN=second", *WEB)

    table = seeded_here.ok("secrets", "history", "TOKEN", *WEB).stdout
    assert table.splitlines()[0].split() == ["VERSION", "ACTION", "AUTHOR", "CREATED", "STATE"]
    assert "first" not in table
    assert "second" not in table
    rows = run.json("secrets", "history", "TOKEN", *WEB, "--reveal", "--format", "json")
    assert [(r["version"], r["raw_value"], r["current"]) for r in rows] == [
        (2, "second", True),
        (1, "first", False),
    ]

    done = run.ok("secrets", "rollback", "TOKEN", *WEB, "--to-version", "1").stdout
    assert done == (
        "Rolled TOKEN on stack 'web' of account 'acme' back to version 1's value (now version 3)\n"
    )
    assert run.ok("secrets", "get", "TOKEN", *WEB, "--plain").stdout == "first\n"
    stale = run.invoke(
        "secrets", "rollback", "TOKEN", *WEB, "--to-version", "2", "--if-version", "2"
    )
    assert stale.exit_code == CONFLICT
    assert "at version 3, not 2" in error_line(stale.stderr)

    run.ok("secrets", "unset", "TOKEN", *WEB)
    assert run.ok("secrets", "undelete", "TOKEN", *WEB).stdout == (
        "Restored TOKEN on stack 'web' of account 'acme' (version 5)\n"
    )
    assert run.ok("secrets", "get", "TOKEN", *WEB, "--plain").stdout == "first\n"

    run.ok("secrets", "destroy", "TOKEN", *WEB, "--version", "2")
    rows = run.json("secrets", "history", "TOKEN", *WEB, "--reveal", "--format", "json")
    destroyed = next(r for r in rows if r["version"] == 2)
    assert (destroyed["destroyed"], destroyed["raw_value"], destroyed["value"]) == (
        True,
        None,
        None,
    )
    gone = run.invoke("secrets", "rollback", "TOKEN", *WEB, "--to-version", "2")
    assert gone.exit_code == CONFLICT
    assert "destroyed" in error_line(gone.stderr)
    current = run.invoke("secrets", "destroy", "TOKEN", *WEB, "--version", "5")
    assert current.exit_code == CONFLICT
    missing = run.invoke("secrets", "history", "NOPE", *WEB)
    assert missing.exit_code == NOT_FOUND


def test_rolling_a_stack_back_to_a_moment(
    seeded_here: MainInProcess, cli_runner: InProcessCli
) -> None:
    run = cli_runner
    run.ok("secrets", "set", "KEEP=kept", *WEB)
    run.ok("secrets", "set", "CHANGE=old", *WEB)
    moment = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    run.ok("secrets", "set", "CHANGE=new", *WEB)
    run.ok("secrets", "set", "LATE=added later", *WEB)

    out = seeded_here.ok("secrets", "rollback", *WEB, "--to", moment).stdout

    lines = out.splitlines()
    assert lines[0].startswith("Rolled stack 'web' of account 'acme' back to ")
    assert lines[1].split() == ["restored", "CHANGE@1"]
    assert lines[2].split() == ["deleted", "LATE"]
    assert lines[3].split() == ["unchanged", "KEEP"]
    assert run.revealed(*WEB) == {"KEEP": "kept", "CHANGE": "old"}


def test_bad_rollback_arguments_are_refused(seeded: Cli, cli_runner: InProcessCli) -> None:
    run = cli_runner
    run.ok("secrets", "set", "K=v", *WEB)
    for args in (
        ("secrets", "rollback", "K", *WEB),
        ("secrets", "rollback", *WEB, "--to-version", "1"),
        ("secrets", "rollback", "K", *WEB, "--to", "2030-01-01T00:00:00Z"),
        ("secrets", "rollback", *WEB, "--to", "yesterday"),
        ("secrets", "rollback", *WEB, "--to", "2030-01-01T00:00:00"),
        ("secrets", "max-versions", "lots", *WEB),
    ):
        outcome = run.invoke(*args)
        assert outcome.exit_code == BAD_INPUT, (args, outcome.stderr)
    assert run.revealed(*WEB) == {"K": "v"}


def test_max_versions(seeded: Cli, cli_runner: InProcessCli) -> None:
    run = cli_runner
    assert run.ok("secrets", "max-versions", *WEB).stdout == "all\n"
    assert run.ok("secrets", "max-versions", "3", *WEB).stdout == (
        "Secrets of stack 'web' of account 'acme' keep at most 3 versions\n"
    )
    for n in range(5):
        run.ok("secrets", "set", f"K=value {n}", *WEB)
    rows = run.json("secrets", "history", "K", *WEB, "--format", "json")
    assert [r["version"] for r in rows if r["value"] is not None] == [5, 4, 3]
    assert run.ok("secrets", "max-versions", *WEB).stdout == "3\n"
    run.ok("secrets", "max-versions", "all", *WEB)
    assert run.ok("secrets", "max-versions", *WEB).stdout == "all\n"


def test_generate_sets_a_random_value_and_never_prints_it(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    run = cli_runner
    out = run.ok("secrets", "generate", "API_SECRET", *WEB, "--length", "48", "--charset", "hex")
    assert out.stdout == (
        "Set API_SECRET on stack 'web' of account 'acme' to 48 random hex characters (version 1)\n"
    )
    value = run.ok("secrets", "get", "API_SECRET", *WEB, "--plain").stdout.strip()
    assert len(value) == 48
    assert set(value) <= set("0123456789abcdef")
    assert value not in out.stdout
    bad = run.invoke("secrets", "generate", "X", *WEB, "--charset", "emoji")
    assert bad.exit_code == BAD_INPUT
