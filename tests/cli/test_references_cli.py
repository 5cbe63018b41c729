"""Broken references through the CLI (docs/references.md): a write that would create one is a
one-line error naming the key; one a stack already holds (a target deleted since) keeps no
other key from `run`, `export` or `list --reveal`, and is named; imports are literal unless
`--raw`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.cli.helpers import Cli, InProcessCli, error_line

PYTHON = sys.executable
WEB = ("--stack", "web", "--account", "acme")
PRINT_ENV = "import json, os, sys; print(json.dumps({k: os.getenv(k) for k in sys.argv[1:]}))"


def broken_url(runner: InProcessCli) -> None:
    """web: OTHER (fine), URL = ${HOST} with HOST deleted since (allowed: reads isolate it)."""
    runner.ok("secrets", "set", "OTHER=fine", *WEB)
    runner.ok("secrets", "set", "HOST=db.internal", *WEB)
    runner.ok("secrets", "set", "URL=postgres://${HOST}/app", *WEB)
    runner.ok("secrets", "unset", "HOST", *WEB)


def test_setting_a_dangling_reference_is_one_line_naming_it(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    refused = cli_runner.invoke("secrets", "set", "URL=postgres://${HOST}/app", *WEB)
    assert refused.exit_code == 5
    assert error_line(refused.stderr) == (
        "Error: 'URL' in stack 'web' of account 'acme' references ${HOST}, which does not "
        "exist there (for a literal ${, write $${); nothing was written"
    )
    assert cli_runner.invoke("secrets", "get", "URL", *WEB).exit_code == 3  # not found


def test_run_only_other_runs_beside_a_broken_key(seeded: Cli, cli_runner: InProcessCli) -> None:
    broken_url(cli_runner)
    ran = seeded.ok("run", *WEB, "--only", "OTHER", "--", PYTHON, "-c", PRINT_ENV, "OTHER", "URL")
    assert json.loads(ran.stdout) == {"OTHER": "fine", "URL": None}


def test_run_fails_naming_a_broken_key_it_would_deliver(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    broken_url(cli_runner)
    refused = seeded.fails(5, "run", *WEB, "--", PYTHON, "-c", "print('ran')")
    assert refused.stdout == ""
    assert error_line(refused.stderr) == (
        "Error: ${HOST} does not exist in stack 'web' of account 'acme' (not given: URL)"
    )


def test_export_and_list_give_the_other_keys_and_name_the_broken_one(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    broken_url(cli_runner)
    exported = cli_runner.invoke("secrets", "export", *WEB, "--format", "json")
    assert exported.exit_code == 5
    assert json.loads(exported.stdout) == {"OTHER": "fine"}
    assert "${HOST} does not exist" in error_line(exported.stderr)
    assert "not given: URL" in exported.stderr

    listed = cli_runner.invoke("secrets", "list", *WEB, "--reveal", "--format", "json")
    assert listed.exit_code == 5
    assert {i["key"]: i["raw_value"] for i in json.loads(listed.stdout)["response"]} == {
        "OTHER": "fine",
        "URL": None,
    }
    assert "'URL' has a broken reference" in error_line(listed.stderr)
    raw = cli_runner.json("secrets", "list", *WEB, "--reveal", "--raw", "--format", "json")[
        "response"
    ]
    assert {i["key"]: i["raw_value"] for i in raw}["URL"] == "postgres://${HOST}/app"


def test_import_is_literal_unless_raw(
    seeded: Cli, cli_runner: InProcessCli, tmp_path: Path
) -> None:
    cli_runner.ok("secrets", "set", "HOST=db.internal", *WEB)
    env = tmp_path / "app.env"
    env.write_text("TEMPLATE='postgres://${HOST}/app'\n")
    done = cli_runner.ok("secrets", "import", str(env), *WEB)
    assert cli_runner.revealed(*WEB)["TEMPLATE"] == "postgres://${HOST}/app"
    assert "import with --raw to keep references" in done.stderr
    cli_runner.ok("secrets", "import", str(env), *WEB, "--raw")
    assert cli_runner.revealed(*WEB)["TEMPLATE"] == "postgres://db.internal/app"
