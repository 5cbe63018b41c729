"""No command prints a secret value unless asked to reveal it: not on success, not on failure.

The commands run the console script's ``main()`` in this process (what they print is the point,
and it is captured as a process's would be, logging included); ``run`` and one refused import,
whose exit status and line a shell sees, run the installed script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import Cli, InProcessCli, error_line
from tests.cli.main_in_process import MainInProcess

WEB = ("--stack", "web", "--account", "acme")

# Distinctive values; none of these strings is part of a key, name or path.
ARGV = "canary-argv-7f3e91"
STDIN = "canary-stdin-2b8c44"
FILE = "canary-file-c0ffee"
ACCOUNT_WIDE = "canary-account-5d1a07"
IMPORTED = "canary-imported-e4b2d9"
IN_BAD_FILE = "canary-badfile-91aa3c"
BIG = "canary-big-"
REJECTED = "canary-rejected-06fd52"
CANARIES = (ARGV, STDIN, FILE, ACCOUNT_WIDE, IMPORTED, IN_BAD_FILE, BIG, REJECTED)

Outputs = list[tuple[str, subprocess.CompletedProcess[str]]]


def assert_no_canary(outputs: Outputs) -> None:
    for command, done in outputs:
        for canary in CANARIES:
            assert canary not in done.stdout, f"`{command}` printed a value on stdout"
            assert canary not in done.stderr, f"`{command}` printed a value on stderr"


def test_no_value_is_echoed_by_any_command_or_error(
    seeded: Cli, seeded_here: MainInProcess, cli_runner: InProcessCli, tmp_path: Path
) -> None:
    cli = seeded_here  # initialised, with account acme and stack web
    outputs: Outputs = []

    def ok(*args: str, input: str | None = None) -> None:
        outputs.append((" ".join(args), cli.ok(*args, input=input)))

    # Writing values every way (sequential: each one changes state).
    ok("secrets", "set", f"FROM_ARGV={ARGV}", *WEB)
    ok("secrets", "set", "FROM_STDIN", *WEB, "--stdin", input=STDIN + "\n")
    value_file = tmp_path / "value.txt"
    value_file.write_text(FILE)
    ok("secrets", "set", "FROM_FILE", *WEB, "--from-file", str(value_file))
    cli_runner.ok("secrets", "set", f"ACCOUNT_WIDE={ACCOUNT_WIDE}", "--account", "acme")
    cli_runner.ok("secrets", "set", f"not.a.var={ARGV}", *WEB)
    env_file = tmp_path / "good.env"
    env_file.write_text(f"IMPORTED={IMPORTED}\nFROM_ARGV={ARGV}\n")
    ok("secrets", "import", str(env_file), *WEB)
    ok("secrets", "unset", "FROM_FILE", *WEB)

    # Reading without --reveal, and failures, some carrying values: all independent and
    # writing nothing.
    files = {
        "broken.env": f"GOOD={IN_BAD_FILE}\nBROKEN='{IN_BAD_FILE}\nDUP=1\n",
        "dup.env": f"GOOD={IN_BAD_FILE}\nGOOD={IN_BAD_FILE}2\n",
        "number.json": json.dumps({"GOOD": IN_BAD_FILE, "NUM": 1}),
        "escape.json": f'{{"GOOD": "{IN_BAD_FILE}", "BAD": "{IN_BAD_FILE}\\x"}}',
        "badkey.json": json.dumps({"ok": IN_BAD_FILE, "bad key": IN_BAD_FILE}),
        "big.json": json.dumps({"BIG": BIG * 7000}),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    reads = [
        ("secrets", "list", *WEB),
        ("secrets", "list", *WEB, "--format", "json"),
        ("secrets", "list", "--account", "acme"),
        ("secrets", "get", "FROM_ARGV", *WEB),
        ("secrets", "get", "FROM_STDIN", *WEB),
        ("secrets", "get", "ACCOUNT_WIDE", "--stack", "web"),
    ]
    failures = [
        ("init",),
        ("secrets", "set", f"BIG={BIG * 7000}", *WEB),  # over 64 KiB
        ("secrets", "set", f"bad key={REJECTED}", *WEB),
        ("secrets", "set", f"K={REJECTED}", "--stack", "no-such-stack"),
        ("secrets", "set", f"K={REJECTED}", *WEB, "--stdin"),
        ("secrets", "set", "K", *WEB, "--stdin"),
        *(("secrets", "import", str(tmp_path / name), *WEB) for name in files),
    ]
    runs = [  # `run` replaces its process: the installed script's, at once
        ("run", *WEB, "--strict", "--", sys.executable, "-c", "pass"),
        ("run", *WEB, "--", "no-such-command-5e2f"),
    ]
    stdin: dict[int, str | bytes] = {
        len(reads) + 4: REJECTED,
        len(reads) + 5: REJECTED.encode() + b"\xff",
    }
    results = cli.run_many([*reads, *failures], stdin) + seeded.run_many(runs)
    failures += runs
    for args, done in zip(reads, results[: len(reads)], strict=True):
        assert done.returncode == 0, (args, done.stderr)
    for args, done in zip(failures, results[len(reads) :], strict=True):
        assert done.returncode != 0, args
        assert "Error: " in done.stderr, (args, done.stderr)
    outputs += [
        (" ".join(args), done) for args, done in zip([*reads, *failures], results, strict=True)
    ]

    assert len(outputs) == 25
    assert_no_canary(outputs)


def test_the_canary_check_would_notice_values(
    seeded_here: MainInProcess, cli_runner: InProcessCli
) -> None:
    """Counterpart: --reveal and export do print values, and the check above sees them."""
    cli_runner.ok("secrets", "set", f"K={ARGV}", "--account", "acme")
    shown = seeded_here.run_many(
        [
            ("secrets", "list", "--account", "acme", "--reveal"),
            ("secrets", "export", "--account", "acme"),
        ]
    )
    for done in shown:
        with pytest.raises(AssertionError, match="printed a value on stdout"):
            assert_no_canary([("shown", done)])


def test_unquoted_multiline_value_in_dotenv_is_not_echoed(seeded: Cli, tmp_path: Path) -> None:
    key_line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7canary"
    pem = tmp_path / "pem.env"
    pem.write_text(f"TLS_KEY=-----BEGIN PRIVATE KEY-----\n{key_line}\n-----END PRIVATE KEY-----\n")
    done = seeded.fails(2, "secrets", "import", str(pem), "--account", "acme")
    assert "line 2" in error_line(done.stderr)  # the error itself is right ...
    assert key_line not in done.stderr  # ... but it must not quote the private key
