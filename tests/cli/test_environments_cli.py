"""`secrets set --environment`, `restrict`, `diff` and `copy` through the CLI (local).

The console script's ``main()`` in this process (``seeded_here``) where the script's own answer
matters; the installed script for ``run``, which replaces its process."""

from __future__ import annotations

from tests.cli.helpers import Cli, InProcessCli, error_line
from tests.cli.main_in_process import MainInProcess

BAD_INPUT, FORBIDDEN = 2, 4
DRIFT = 1  # `secrets diff --exit-code` on drift, as git diff


def staging(run: InProcessCli) -> None:
    run.ok("stacks", "create", "web-stg", "--account", "acme", "--environment", "staging")


def test_restricted_account_secrets_reach_only_their_environment(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    run = cli_runner
    staging(run)
    run.ok("secrets", "set", "PROD_DB=prod pass", "--account", "acme", "-e", "production")
    run.ok("secrets", "set", "SHARED=all", "--account", "acme")

    assert run.revealed("--stack", "web") == {"PROD_DB": "prod pass", "SHARED": "all"}
    assert run.revealed("--stack", "web-stg") == {"SHARED": "all"}
    shown = run.ok("secrets", "restrict", "PROD_DB", "--account", "acme").stdout
    assert shown == "PROD_DB on account 'acme' is inherited by stacks of: production\n"

    run.ok("secrets", "restrict", "PROD_DB", "--account", "acme", "--all-environments")
    assert run.revealed("--stack", "web-stg")["PROD_DB"] == "prod pass"
    run.ok("secrets", "restrict", "PROD_DB", "--account", "acme", "-e", "production")
    assert "PROD_DB" not in run.revealed("--stack", "web-stg")

    both = run.invoke(
        "secrets", "set", "X=1", "--account", "acme", "-e", "staging", "--all-environments"
    )
    assert both.exit_code == BAD_INPUT
    on_stack = run.invoke("secrets", "set", "X=1", "--stack", "web", "-e", "production")
    assert on_stack.exit_code == BAD_INPUT
    assert "account-level" in error_line(on_stack.stderr)


def test_diff_and_copy_between_stacks(seeded_here: MainInProcess, cli_runner: InProcessCli) -> None:
    run = cli_runner
    staging(run)
    run.ok("secrets", "set", "SHARED=all", "--account", "acme")
    run.ok("secrets", "set", "API_KEY=prod key", "--stack", "web")
    run.ok("secrets", "set", "DRIFT=prod", "--stack", "web")
    run.ok("secrets", "set", "DRIFT=staging", "--stack", "web-stg")

    table = seeded_here.ok("secrets", "diff", "--stack", "web", "--stack", "web-stg").stdout
    lines = [line.split() for line in table.splitlines()]
    assert lines[0] == ["KEY", "STATE", "WEB", "WEB-STG"]
    assert ["API_KEY", "only", "in", "web", "v1", "-"] in lines
    assert ["DRIFT", "differs", "v1", "v1"] in lines
    assert not any(line[0] == "SHARED" for line in lines)  # the same on both: not listed
    assert "prod key" not in table
    rows = run.json("secrets", "diff", "--stack", "web", "--stack", "web-stg", "--format", "json")
    assert {r["key"]: r["state"] for r in rows}["SHARED"] == "same"
    assert run.invoke("secrets", "diff", "--stack", "web").exit_code == BAD_INPUT

    refused = run.invoke("secrets", "copy", "--from-stack", "web", "--to-stack", "web-stg")
    assert refused.exit_code == FORBIDDEN
    assert "--allow-production-source" in error_line(refused.stderr)
    assert "API_KEY" not in run.revealed("--stack", "web-stg")

    done = run.ok(
        "secrets",
        "copy",
        "--from-stack",
        "web",
        "--to-stack",
        "web-stg",
        "--key",
        "API_KEY",
        "--allow-production-source",
    ).stdout
    # One line, as `secrets import` reports: never every key name (a large stack's copy).
    assert done == "Copied from 'web' into 'web-stg': added 1, changed 0, unchanged 0\n"
    assert run.revealed("--stack", "web-stg")["API_KEY"] == "prod key"
    again = run.json(
        "secrets",
        "copy",
        "--from-stack",
        "web",
        "--to-stack",
        "web-stg",
        "-k",
        "API_KEY",
        "--allow-production-source",
        "--output",
        "json",
    )
    assert (again["unchanged"], again["counts"]) == (
        ["API_KEY"],
        {"added": 0, "changed": 0, "unchanged": 1},
    )


def test_get_resolves_references_and_raw_shows_them(seeded: Cli, cli_runner: InProcessCli) -> None:
    run = cli_runner
    run.ok("secrets", "set", "HOST=db.internal", "--account", "acme")
    run.ok("secrets", "set", "URL=postgres://${HOST}/app", "--stack", "web")

    assert run.ok("secrets", "get", "URL", "--stack", "web", "--plain").stdout == (
        "postgres://db.internal/app\n"
    )
    raw = run.json("secrets", "get", "URL", "--stack", "web", "--reveal", "--raw")
    assert raw["raw_value"] == "postgres://${HOST}/app"
    listed = run.json("secrets", "list", "--stack", "web", "--reveal", "--raw", "--format", "json")
    assert {i["key"]: i["raw_value"] for i in listed["response"]}["URL"] == "postgres://${HOST}/app"


def test_references_that_expand_too_far_fail_writes_and_every_reveal_naming_the_key(
    seeded: Cli, seeded_here: MainInProcess, cli_runner: InProcessCli
) -> None:
    run = cli_runner
    run.ok("secrets", "set", f"PART={'p' * 4096}", "--account", "acme")
    run.ok("secrets", "set", "BIG=" + "${account.PART}" * 8, "--stack", "web")  # 32 KiB

    refused = seeded_here.fails(2, "secrets", "set", "HUGE=${BIG}${BIG}${BIG}", "--stack", "web")
    assert "'HUGE' in stack 'web'" in error_line(refused.stderr)
    assert "HUGE" not in run.revealed("--stack", "web")

    lowered = {"STACKSAFE_MAX_VALUE_BYTES": "16384"}  # as if BIG were written before the bound
    for script, args in (
        (seeded_here, ("export", "--stack", "web")),
        (seeded_here, ("secrets", "get", "BIG", "--stack", "web", "--plain")),
        (seeded, ("run", "--stack", "web", "--", "true")),
    ):
        done = script.fails(2, *args, env=lowered)
        assert "'BIG' in stack 'web'" in error_line(done.stderr), args
        assert "pppp" not in done.stderr
    raw = seeded_here.ok("export", "--stack", "web", "--raw", "--format", "json", env=lowered)
    assert "${account.PART}" in raw.stdout


def test_diff_exit_code_says_whether_the_stacks_drifted(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    """`--exit-code` as `git diff --exit-code`: 1 on drift, 0 when the stacks match; without
    it, 0 either way (the report is the answer)."""
    run = cli_runner
    staging(run)
    run.ok("secrets", "set", "SHARED=all", "--account", "acme")
    both = ("secrets", "diff", "--stack", "web", "--stack", "web-stg")

    assert run.invoke(*both, "--exit-code").exit_code == 0
    run.ok("secrets", "set", "DRIFT=prod", "--stack", "web")

    drifted = run.invoke(*both, "--exit-code")
    assert drifted.exit_code == DRIFT
    assert "DRIFT" in drifted.stdout  # the report is still printed
    assert drifted.stderr == ""
    as_json = run.invoke(*both, "--exit-code", "--format", "json")
    assert as_json.exit_code == DRIFT
    assert run.invoke(*both).exit_code == 0

    run.ok("secrets", "set", "DRIFT=prod", "--stack", "web-stg")
    assert run.invoke(*both, "--exit-code").exit_code == 0


TYPO = (
    "Warning: environment 'prodution' is not a built-in one (development, staging, qa, "
    "production) and no stack uses it: a typo?\n"
)


def test_an_environment_nothing_uses_is_warned_about(seeded: Cli, cli_runner: InProcessCli) -> None:
    """Accepted (own environments are allowed), but a typo would narrow a token or restrict a
    secret to no stack at all: each command that takes an environment says so on stderr."""
    run = cli_runner
    run.ok("users", "create", "dev@example.com", "--account", "acme", "--role", "developer")
    for argv in (
        (
            "tokens",
            "create",
            "--user",
            "dev@example.com",
            "--scope",
            "admin",
            "--environment",
            "prodution",
        ),
        ("secrets", "set", "K=v", "--account", "acme", "-e", "production", "-e", "prodution"),
        ("secrets", "restrict", "K", "--account", "acme", "--environment", "prodution"),
        ("stacks", "create", "api", "--account", "acme", "--environment", "prodution"),
    ):
        done = run.ok(*argv)
        assert TYPO in done.stderr, (argv, done.stderr)
        assert done.stderr.count("Warning") == 1
    # Now a stack uses it, and the built-ins need none: no warning.
    for argv in (
        ("secrets", "restrict", "K", "--account", "acme", "--environment", "prodution"),
        ("secrets", "set", "K=v", "--account", "acme", "-e", "qa"),
        ("stacks", "create", "api-2", "--account", "acme", "--environment", "prodution"),
    ):
        assert "Warning" not in run.ok(*argv).stderr, argv
