"""`secrets import` and `secrets export`: reports, all-or-nothing failures, exact round trips.

The console script's ``main()`` runs in this process (``*_here``, ``in_this_process``); the
installed script for one import as a shell sees it and for the progress bar on a terminal."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from dotenv import dotenv_values

from tests.cli.helpers import Cli, InProcessCli, error_line, on_a_terminal
from tests.cli.main_in_process import MainInProcess, in_this_process

WEB = ("--stack", "web", "--account", "acme")
CANARY = "import-canary-3b7e1f"  # a valid value in every malformed file: must not be stored

TRICKY = {
    "SINGLE_QUOTES": "it's 'quoted'",
    "DOUBLE_QUOTES": 'say "hi" \\"escaped\\"',
    "BACKSLASHES": "C:\\path\\to\\dir\\",
    "NEWLINES": "line1\nline2\n\nline4\n",
    "CRLF": "windows\r\nline\r\n",
    # $${ is how a literal ${ is stored (${USER} would be a reference to a secret USER).
    "DOLLARS": "$HOME $${USER} $(rm -rf /) `id`",
    "HASHES": "#not-a-comment # neither",
    "SPACES": "  leading and trailing  ",
    "UNICODE": "ünïcødé — 鍵 🔑",
    "EQUALS": "a=b==c",
    "EMPTY": "",
    "app.config": "{'a': \"b\"}\t\\n",
    "my-key": "\\'\\\\'",
}


def snapshot(runner: InProcessCli) -> tuple[dict[str, str], dict[str, str]]:
    """Everything stored, revealed: the stack's effective secrets and the account's own."""
    return runner.revealed(*WEB), runner.revealed("--account", "acme")


def test_import_dotenv_and_json_report_added_changed_unchanged(
    seeded: Cli, seeded_here: MainInProcess, cli_runner: InProcessCli, tmp_path: Path
) -> None:
    cli_runner.ok("secrets", "set", "CHANGES=old", *WEB)
    cli_runner.ok("secrets", "set", "STAYS=same", *WEB)
    cli_runner.ok("secrets", "set", "INHERITED=account-value", "--account", "acme")
    env_file = tmp_path / "app.env"
    env_file.write_text(
        "# a comment\n"
        "export NEW_B=beta\n"
        "CHANGES='new'\n"
        "\n"
        'STAYS="same"\n'
        "NEW_A=alpha # trailing comment\n"
        "INHERITED=stack-value\n"
    )
    done = seeded.ok("secrets", "import", str(env_file), *WEB)
    assert done.stdout == (
        "Imported into stack 'web' of account 'acme': added 3, changed 1, unchanged 1\n"
    )
    assert done.stderr == ""  # no progress bar: stderr is not a terminal
    assert cli_runner.revealed(*WEB) == {
        "CHANGES": "new",
        "INHERITED": "stack-value",
        "NEW_A": "alpha",
        "NEW_B": "beta",
        "STAYS": "same",
    }
    # the account's own value is untouched: the import wrote at stack level
    assert cli_runner.revealed("--account", "acme") == {"INHERITED": "account-value"}

    json_file = tmp_path / "more.JSON"  # detected as JSON by its extension
    json_file.write_text(json.dumps({"NEW_A": "alpha", "CHANGES": "newer", "FRESH": "x"}))
    details = json.loads(
        seeded_here.ok("secrets", "import", str(json_file), *WEB, "-o", "json").stdout
    )
    assert details == {
        "into": "stack 'web' of account 'acme'",
        "added": ["FRESH"],
        "changed": ["CHANGES"],
        "unchanged": ["NEW_A"],
        "counts": {"added": 1, "changed": 1, "unchanged": 1},
    }
    assert cli_runner.revealed(*WEB)["CHANGES"] == "newer"
    # Cells are two spaces apart or more: FROM may be "overrides account".
    rows = [
        [cell.strip() for cell in row.split("  ") if cell.strip()]
        for row in cli_runner.ok("secrets", "list", *WEB).stdout.splitlines()[1:]
    ]
    assert {cells[0]: cells[1] for cells in rows}["INHERITED"] == "overrides account"
    versions = {cells[0]: cells[2] for cells in rows}
    assert versions == {
        "CHANGES": "3",
        "FRESH": "1",
        "INHERITED": "1",
        "NEW_A": "1",
        "NEW_B": "1",
        "STAYS": "1",
    }

    # stdin with an explicit format; nothing new: everything unchanged
    done = seeded_here.ok(
        "secrets", "import", "-", "--format", "json", *WEB, input=json.dumps({"FRESH": "x"})
    )
    assert done.stdout.endswith(": added 0, changed 0, unchanged 1\n")


@dataclass(frozen=True)
class Malformed:
    name: str
    filename: str
    content: bytes
    expected: tuple[str, ...]  # each must appear in the one-line error
    names_file: bool = True  # parse errors name the file; key/value rules name the key


MALFORMED = [
    Malformed(
        "dotenv-unparsable-line",
        "bad.env",
        f'GOOD={CANARY}\nBROKEN="unterminated\nLATER=x\n'.encode(),
        ("line 2", "cannot parse"),
    ),
    Malformed(
        "dotenv-key-without-equals",
        "bad.env",
        f"GOOD={CANARY}\n\n# comment\nLONELY\n".encode(),
        ("line 4", "no '='"),
    ),
    Malformed(
        "dotenv-duplicate-key",
        "bad.env",
        f"DUP=first\nGOOD={CANARY}\nDUP=second\n".encode(),
        ("line 3", "'DUP'", "line 1"),
    ),
    Malformed(
        "json-invalid",
        "bad.json",
        f'{{\n  "GOOD": "{CANARY}",\n  "NEXT": \n}}\n'.encode(),
        ("not valid JSON", "line 4"),
    ),
    Malformed(
        "json-non-string-value",
        "bad.json",
        json.dumps({"GOOD": CANARY, "PORT": 5432}).encode(),
        ("'PORT'", "int", "not a string"),
    ),
    Malformed(
        "json-non-object",
        "bad.json",
        json.dumps([CANARY]).encode(),
        ("JSON object",),
    ),
    Malformed(
        "json-duplicate-key",
        "bad.json",
        f'{{"GOOD": "{CANARY}", "GOOD": "again"}}'.encode(),
        ("'GOOD'", "twice"),
    ),
    Malformed(
        "invalid-key-name-dotenv",
        "bad.env",
        f"GOOD={CANARY}\nbad..key=x\n".encode(),
        ("line 2", "key is not valid"),
    ),
    Malformed(
        "invalid-key-name-json",
        "bad.json",
        json.dumps({"GOOD": CANARY, "has space": "x"}).encode(),
        ("'has space'", "not valid"),
        names_file=False,
    ),
    Malformed(
        "oversized-value",
        "big.env",
        f"GOOD={CANARY}\nBIG={'x' * 65_537}\n".encode(),
        ("'BIG'", "65537 bytes", "65536"),
        names_file=False,
    ),
    Malformed(
        "non-utf8",
        "latin1.env",
        f"GOOD={CANARY}\n".encode() + b"BAD=caf\xe9\n",
        ("not UTF-8", f"offset {len(f'GOOD={CANARY}') + 1 + len('BAD=caf')}"),
    ),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[case.name for case in MALFORMED])
def test_malformed_import_fails_with_one_line_and_writes_nothing(
    module_seeded: Cli, tmp_path: Path, case: Malformed
) -> None:
    runner = module_seeded.in_process()
    runner.ok("secrets", "set", "PRESENT=kept", *WEB)
    before = snapshot(runner)
    path = tmp_path / case.filename
    path.write_bytes(case.content)
    done = in_this_process(module_seeded).run("secrets", "import", str(path), *WEB)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    line = error_line(done.stderr)
    assert (str(path) in line) is case.names_file
    for expected in case.expected:
        assert expected in line
    assert CANARY not in done.stderr
    assert snapshot(runner) == before
    assert "GOOD" not in before[0]


def stored(runner: InProcessCli, *target: str) -> dict[str, str]:
    """Key → value as stored (references and escapes unresolved)."""
    listed = runner.json("secrets", "list", *target, "--reveal", "--raw", "--format", "json")
    return {item["key"]: item["raw_value"] for item in listed["response"]}


def test_export_then_import_round_trips_every_value_exactly(
    seeded_here: MainInProcess, cli_runner: InProcessCli, tmp_path: Path
) -> None:
    cli_runner.ok("secrets", "set", "SHARED=from account", "--account", "acme")
    cli_runner.ok("secrets", "set", "OVERRIDDEN=account value", "--account", "acme")
    cli_runner.ok("secrets", "set", "OVERRIDDEN=stack's value", *WEB)
    for key, value in TRICKY.items():
        cli_runner.ok("secrets", "set", f"{key}={value}", *WEB)
    expected = {**TRICKY, "SHARED": "from account", "OVERRIDDEN": "stack's value"}
    assert stored(cli_runner, *WEB) == expected
    assert cli_runner.revealed(*WEB)["DOLLARS"] == "$HOME ${USER} $(rm -rf /) `id`"

    for fmt in ("json", "dotenv"):
        if fmt == "dotenv":
            # A shell sourcing `app.config=...` runs a command of that name: dotenv (which is
            # also sourced) refuses such keys whole, naming them; json carried them above.
            refused = seeded_here.fails(2, "secrets", "export", *WEB, "--format", "dotenv", "--raw")
            assert error_line(refused.stderr).startswith(
                "Error: the dotenv format cannot carry app.config, my-key: not shell variable names"
            )
            assert refused.stdout == ""
            for key in ("app.config", "my-key"):
                cli_runner.ok("secrets", "unset", key, *WEB)
                del expected[key]
        # --raw: the values as stored, so the copy means the same (escapes included).
        exported = seeded_here.ok("secrets", "export", *WEB, "--format", fmt, "--raw").stdout
        if fmt == "json":
            assert json.loads(exported) == expected
        else:
            keys = list(dotenv_values(stream=io.StringIO(exported), interpolate=False))
            assert keys == sorted(expected)
        copy = f"copy-{fmt}"
        cli_runner.ok("stacks", "create", copy, "--account", "acme")
        path = tmp_path / f"export.{'json' if fmt == 'json' else 'env'}"
        path.write_bytes(exported.encode("utf-8"))
        # --raw on both sides: the file is stored text (a plain import would store it as text).
        done = seeded_here.ok("secrets", "import", str(path), "--stack", copy, "--raw")
        assert f": added {len(expected)}, changed 0, unchanged 0\n" in done.stdout
        assert stored(cli_runner, "--stack", copy) == expected
        copied = cli_runner.json("secrets", "list", "--stack", copy, "--format", "json")
        assert not any(item["inherited"] for item in copied["response"])


def test_a_dotenv_export_that_a_shell_could_not_source_safely_is_refused_whole(
    seeded_here: MainInProcess, cli_runner: InProcessCli
) -> None:
    cli_runner.ok("secrets", "set", "FINE=$(harmless in single quotes)", *WEB)
    cli_runner.ok("secrets", "set", "HOSTILE=it's $(touch PWNED)", *WEB)
    done = seeded_here.fails(2, "export", *WEB, "--format", "dotenv")
    line = error_line(done.stderr)
    assert line.startswith("Error: the dotenv format cannot carry HOSTILE: ")
    assert "--format json" in line
    assert "touch PWNED" not in line
    assert done.stdout == ""
    exported = json.loads(seeded_here.ok("export", *WEB, "--format", "json").stdout)
    assert exported["HOSTILE"] == "it's $(touch PWNED)"


def test_a_large_import_prints_a_summary_not_every_key(
    seeded: Cli, cli_runner: InProcessCli, tmp_path: Path
) -> None:
    """Thousands of lines: one summary line with thousands separators, no key names (the key
    lists are in ``--output json``)."""
    big = tmp_path / "big.env"
    big.write_text("".join(f"KEY_{i:04d}=v{i}\n" for i in range(1200)))
    cli_runner.ok("secrets", "import", str(big), *WEB)
    big.write_text("".join(f"KEY_{i:04d}=v{i}{'x' if i < 5 else ''}\n" for i in range(1200)))
    done = cli_runner.ok("secrets", "import", str(big), *WEB)
    assert done.stdout == (
        "Imported into stack 'web' of account 'acme': added 0, changed 5, unchanged 1,195\n"
    )


def test_import_shows_a_progress_bar_on_a_terminal_only(seeded: Cli, tmp_path: Path) -> None:
    env_file = tmp_path / "many.env"
    env_file.write_text("".join(f"K{i}=v{i}\n" for i in range(600)))
    status, stdout, terminal = on_a_terminal(seeded, "secrets", "import", str(env_file), *WEB)
    assert status == 0
    assert "importing 600 keys" in terminal
    assert "600/600" in terminal
    assert (
        stdout == "Imported into stack 'web' of account 'acme': added 600, changed 0, unchanged 0\n"
    )
