"""Concurrent `stacksafe` processes writing to one SQLite data dir: they queue, none fails.

The processes are not traced by coverage (``measured=False``): they carry the load through the
commands the in-process tests measure; what is tested is that they queue (SQLite's locking).
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from stacksafe.store.transactions import Store
from tests.cli.helpers import Cli, InProcessCli

WEB = ("--stack", "web", "--account", "acme")


def assert_all_succeeded(results: list[subprocess.CompletedProcess[str]]) -> None:
    for done in results:
        assert "database is locked" not in done.stdout + done.stderr
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""


def versions(runner: InProcessCli, *target: str) -> dict[str, int]:
    rows = runner.ok("secrets", "list", *target).stdout.splitlines()[1:]
    return {row.split()[0]: int(row.split()[2]) for row in rows}


def test_eight_writers_of_different_keys_all_land(seeded: Cli, cli_runner: InProcessCli) -> None:
    # The stack has no data key yet: the writers also race to create it.
    results = seeded.run_many(
        [("secrets", "set", f"K_{i}=value-{i}", *WEB) for i in range(8)], measured=False
    )
    assert_all_succeeded(results)
    for i, done in enumerate(results):
        assert done.stdout == f"Set K_{i} on stack 'web' of account 'acme' (version 1)\n"
    assert cli_runner.revealed(*WEB) == {f"K_{i}": f"value-{i}" for i in range(8)}
    assert set(versions(cli_runner, *WEB).values()) == {1}


def test_six_writers_of_one_key_make_six_versions(seeded: Cli, cli_runner: InProcessCli) -> None:
    results = seeded.run_many(
        [("secrets", "set", f"SAME=value-{i}", "--account", "acme") for i in range(6)],
        measured=False,
    )
    assert_all_succeeded(results)
    assert versions(cli_runner, "--account", "acme") == {"SAME": 6}
    final = cli_runner.revealed("--account", "acme")["SAME"]
    assert final in {f"value-{i}" for i in range(6)}
    # one more write continues the sequence
    done = seeded.ok("secrets", "set", "SAME=after", "--account", "acme")
    assert done.stdout == "Set SAME on account 'acme' (version 7)\n"


@pytest.mark.parametrize(
    ("interloper", "expected"),
    [
        (("secrets", "set", "RACE=theirs", "--account", "acme"), "version 1"),
        (("secrets", "unset", "RACE", "--account", "acme"), "version 1"),
    ],
    ids=["other-set", "other-unset"],
)
def test_set_reports_the_version_it_wrote_even_if_another_process_writes_right_after(
    seeded: Cli,
    cli_runner: InProcessCli,
    monkeypatch: pytest.MonkeyPatch,
    interloper: tuple[str, ...],
    expected: str,
) -> None:
    """Another process writes right after `set` commits, before the command has reported."""
    real_transact = Store.transact
    interfered: list[subprocess.CompletedProcess[str]] = []

    def transact_then_another_write(self: Store, work: Any, what: str, **options: Any) -> Any:
        result = real_transact(self, work, what, **options)  # committed
        if not interfered:
            interfered.append(seeded.ok(*interloper, measured=False))
        return result

    monkeypatch.setattr(Store, "transact", transact_then_another_write)
    outcome = cli_runner.invoke("secrets", "set", "RACE=mine", "--account", "acme")
    assert interfered, "the interfering write did not happen"
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout == f"Set RACE on account 'acme' ({expected})\n"
