"""The tour of the CLI on both databases: every message, shape and exit code it promises.

tests/test_readme_tour.py runs the README's tour through the installed script as a user types
it (init, a value by hidden prompt and by KEY=VALUE, list, get --reveal, an override and its
unset, and more), on SQLite. This tour asserts what that one does not (exact messages, JSON
shapes, exit codes, and PostgreSQL) through the in-process twin, which runs the same Typer app
and maps errors as main() does (``test_in_process_runner_maps_errors_like_the_installed_script``);
it keeps a real process only where the process is what is checked: ``init`` (what it creates,
what it prints), ``--stdin`` (the process's own stdin) and a refusal's exit code.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

from tests.cli.helpers import Cli, InProcessCli, error_line
from tests.cli.main_in_process import MainInProcess

SPEC_FIELDS = {"key", "value", "raw_value", "inherited", "created_at_iso", "updated_at_iso"}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
ENCRYPTED = re.compile(r"encrypted:AES256:[A-Za-z0-9+/]+=*")

DATABASE_URL_VALUE = "postgres://app:pw=with=equals@db:5432/app"
PASSWORD_STDIN = "line one\nline two\n\n"  # --stdin drops exactly one final newline
PASSWORD_STORED = "line one\nline two\n"
PEM = b"-----BEGIN KEY-----\nMIIBexample==\n-----END KEY-----\n"  # --from-file keeps every byte
API_KEY = "stack-only-api-key"
OVERRIDE = "stack-level-override"


def by_key(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["key"]: item for item in items}


def assert_spec_shape(item: dict[str, Any]) -> None:
    assert set(item) == SPEC_FIELDS
    assert ENCRYPTED.fullmatch(item["value"]), item["value"]
    assert ISO.fullmatch(item["created_at_iso"])
    assert ISO.fullmatch(item["updated_at_iso"])
    assert isinstance(item["inherited"], bool)


def test_full_tour(cli_any_db: Cli, tmp_path: Path) -> None:
    real = cli_any_db  # the installed script, where the process is what is checked
    cli = real.in_process()  # the same data dir and database, in-process: everything else
    web = ["--stack", "web", "--account", "acme"]

    # init: creates the data dir and a 0600 key file, and never prints the key.
    assert not cli.data_dir.exists()
    initialised = real.ok("init")
    key_file = cli.data_dir / "master.key"
    assert cli.data_dir.is_dir()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.data_dir.stat().st_mode) == 0o700
    assert str(cli.data_dir) in initialised.stdout
    assert str(key_file) in initialised.stdout
    key_bytes = key_file.read_bytes()
    key_lines = [line for line in key_bytes.decode().splitlines() if not line.startswith("#")]
    assert key_lines
    for line in key_lines:
        assert line.split(":", 1)[-1] not in initialised.stdout + initialised.stderr

    # accounts and stacks
    assert re.fullmatch(
        r"Created account 'acme' \(uid [0-9a-f]{32}\)\n",
        cli.ok("accounts", "create", "acme").stdout,
    )
    done = cli.ok("stacks", "create", "web", "--account", "acme", "--environment", "production")
    [stack] = cli.json("stacks", "list", "--format", "json")
    assert (stack["name"], stack["environment"], stack["account"]) == ("web", "production", "acme")
    assert stack["uid"] in done.stdout

    # three ways to give a value
    done = cli.ok("secrets", "set", f"DATABASE_URL={DATABASE_URL_VALUE}", "--account", "acme")
    assert done.stdout == "Set DATABASE_URL on account 'acme' (version 1)\n"
    real.ok("secrets", "set", "DB_PASSWORD", "--account", "acme", "--stdin", input=PASSWORD_STDIN)
    pem_file = tmp_path / "key.pem"
    pem_file.write_bytes(PEM)
    cli.ok("secrets", "set", "TLS_KEY", *web, "--from-file", str(pem_file))
    cli.ok("secrets", "set", f"API_KEY={API_KEY}", *web)

    # list as a table: masked, with where each secret comes from
    done = cli.ok("secrets", "list", *web)
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["KEY", "FROM", "VERSION", "UPDATED", "VALUE"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"API_KEY", "DATABASE_URL", "DB_PASSWORD", "TLS_KEY"}
    assert rows["DATABASE_URL"][1:3] == ["account", "1"]
    assert rows["API_KEY"][1:3] == ["stack", "1"]
    assert all(row[4] == "********" for row in rows.values())
    for plaintext in (DATABASE_URL_VALUE, "line one", API_KEY, "MIIBexample"):
        assert plaintext not in done.stdout

    # list as JSON: exactly the six fields; raw_value only with --reveal
    masked = by_key(cli.json("secrets", "list", *web, "--format", "json")["response"])
    assert list(masked) == ["API_KEY", "DATABASE_URL", "DB_PASSWORD", "TLS_KEY"]
    for item in masked.values():
        assert_spec_shape(item)
        assert item["raw_value"] is None
    assert masked["DATABASE_URL"]["inherited"] is True
    assert masked["TLS_KEY"]["inherited"] is False
    revealed = by_key(cli.json("secrets", "list", *web, "--format", "json", "--reveal")["response"])
    for item in revealed.values():
        assert_spec_shape(item)
    assert {k: v["raw_value"] for k, v in revealed.items()} == {
        "API_KEY": API_KEY,
        "DATABASE_URL": DATABASE_URL_VALUE,
        "DB_PASSWORD": PASSWORD_STORED,
        "TLS_KEY": PEM.decode(),
    }
    # the account's own list holds only its own secrets (account-level: marked inherited, as
    # the specification says and tests/core asserts)
    own = by_key(cli.json("secrets", "list", "--account", "acme", "--format", "json")["response"])
    assert list(own) == ["DATABASE_URL", "DB_PASSWORD"]
    assert all(item["inherited"] for item in own.values())

    # get: one JSON object; --plain prints just the value
    got = cli.json("secrets", "get", "DB_PASSWORD", *web)
    assert_spec_shape(got)
    assert (got["raw_value"], got["inherited"]) == (None, True)
    assert cli.ok("secrets", "get", "TLS_KEY", *web, "--plain").stdout == PEM.decode() + "\n"

    # override at stack level, then unset it: the inherited value is back
    done = cli.ok("secrets", "set", f"DB_PASSWORD={OVERRIDE}", *web)
    assert done.stdout == "Set DB_PASSWORD on stack 'web' of account 'acme' (version 1)\n"
    got = cli.json("secrets", "get", "DB_PASSWORD", *web, "--reveal")
    assert (got["raw_value"], got["inherited"]) == (OVERRIDE, False)
    account_level = cli.ok("secrets", "get", "DB_PASSWORD", "--account", "acme", "--plain")
    assert account_level.stdout == PASSWORD_STORED + "\n"
    done = cli.ok("secrets", "unset", "DB_PASSWORD", *web)
    assert done.stdout == "Unset DB_PASSWORD on stack 'web' of account 'acme'\n"
    got = cli.json("secrets", "get", "DB_PASSWORD", *web, "--reveal")
    assert (got["raw_value"], got["inherited"]) == (PASSWORD_STORED, True)

    # an inherited key cannot be unset at stack level; a missing one is not found
    refused = cli.fails(5, "secrets", "unset", "DATABASE_URL", *web)
    assert "--account" in error_line(refused.stderr)
    done = cli.fails(3, "secrets", "unset", "NO_SUCH_KEY", *web)
    assert "'NO_SUCH_KEY'" in done.stderr

    # --stack by name alone (unique so far) and, below, by uid
    by_name = cli.ok("secrets", "get", "TLS_KEY", "--stack", "web", "--plain")
    assert by_name.stdout == PEM.decode() + "\n"

    # a stack name in two accounts is ambiguous without --account
    cli.ok("accounts", "create", "globex")
    cli.ok("stacks", "create", "web", "--account", "globex")
    done = cli.fails(2, "secrets", "list", "--stack", "web")
    assert "--account" in done.stderr
    assert "acme" in done.stderr
    assert "globex" in done.stderr
    globex_web = ["--stack", "web", "--account", "globex"]
    assert cli.json("secrets", "list", *globex_web, "--format", "json")["response"] == []
    assert cli.ok("secrets", "get", "TLS_KEY", "--stack", stack["uid"], "--plain").stdout == (
        PEM.decode() + "\n"
    )

    # a second init refuses (exit 7) and changes nothing
    mtime = key_file.stat().st_mtime_ns
    before = cli.json("secrets", "list", *web, "--format", "json", "--reveal")
    refused_init = real.fails(7, "init")
    assert "already initialised" in error_line(refused_init.stderr)
    assert key_file.read_bytes() == key_bytes
    assert key_file.stat().st_mtime_ns == mtime
    assert cli.json("secrets", "list", *web, "--format", "json", "--reveal") == before


def test_init_refuses_to_overwrite_a_leftover_key_file(cli_here: MainInProcess) -> None:
    cli_here.data_dir.mkdir(mode=0o700)
    key_file = cli_here.data_dir / "master.key"
    key_file.write_bytes(b"not a key, but somebody's file\n")
    done = cli_here.fails(7, "init")
    assert "refusing to overwrite" in done.stderr
    assert key_file.read_bytes() == b"not a key, but somebody's file\n"


def test_commands_before_init_say_what_to_do(cli: Cli) -> None:
    done = cli.fails(7, "secrets", "list", "--account", "acme")
    assert "stacksafe init" in done.stderr
    assert not (cli.data_dir / "stacksafe.db").exists()


def test_in_process_runner_maps_errors_like_the_installed_script(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    args = ("secrets", "get", "NOPE", "--stack", "web")
    real = seeded.fails(3, *args)
    twin = cli_runner.invoke(*args)
    assert (twin.exit_code, twin.stdout) == (3, "")
    assert error_line(twin.stderr) == error_line(real.stderr)


def test_if_version_makes_set_and_unset_conditional(seeded: Cli) -> None:
    fast = seeded.in_process()

    def refused(*args: str) -> str:
        outcome = fast.invoke(*args)
        assert outcome.exit_code == 5, outcome
        return outcome.stderr

    fast.ok("secrets", "set", "COND=one", "--stack", "web", "--if-version", "0")
    fast.ok("secrets", "set", "COND=two", "--stack", "web", "--if-version", "1")
    assert "version 2, not 1" in refused(
        "secrets", "set", "COND=three", "--stack", "web", "--if-version", "1"
    )
    refused("secrets", "unset", "COND", "--stack", "web", "--if-version", "1")
    assert fast.revealed("--stack", "web")["COND"] == "two"
    fast.ok("secrets", "unset", "COND", "--stack", "web", "--if-version", "2")
    assert "COND" not in fast.revealed("--stack", "web")


def test_if_version_of_an_inherited_key_is_the_version_a_stack_read_shows(seeded: Cli) -> None:
    """`secrets get --stack` of a key the stack inherits shows the account's version; passing
    it back to `--if-version` creates the override (was: exit 5, "at version 0")."""
    fast = seeded.in_process()
    fast.ok("secrets", "set", "SHARED_URL=account", "--account", "acme")
    fast.ok("secrets", "set", "SHARED_URL=account two", "--account", "acme")
    listed = fast.json("secrets", "list", "--stack", "web", "--format", "json")["response"]
    assert {s["key"]: s["inherited"] for s in listed}["SHARED_URL"] is True

    stale = fast.invoke("secrets", "set", "SHARED_URL=stale", "--stack", "web", "--if-version", "1")
    assert stale.exit_code == 5
    assert "version 2, not 1" in error_line(stale.stderr)
    fast.ok("secrets", "set", "SHARED_URL=override", "--stack", "web", "--if-version", "2")
    assert fast.revealed("--stack", "web")["SHARED_URL"] == "override"
    assert fast.revealed("--account", "acme")["SHARED_URL"] == "account two"
