"""The cyclic collector during a command's start (cli/collector.py): paused by main() only, and on
again, with what was loaded frozen, once the command has started; counted, not timed."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacksafe.cli import collector
from tests.cli.helpers import TIMEOUT, Cli, seed


@pytest.fixture
def restored() -> Iterator[None]:
    """This test process's collector as it was, whatever the test did to it."""
    enabled = gc.isenabled()
    try:
        yield
    finally:
        collector.resume()
        gc.unfreeze()
        if enabled:
            gc.enable()


@pytest.mark.usefixtures("restored")
def test_started_freezes_and_resumes_what_pause_stopped() -> None:
    collector.pause()
    assert not gc.isenabled()
    collector.started()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restored")
def test_without_pause_started_does_nothing() -> None:
    """The command's functions run in-process (Typer's CliRunner): the host process's collector
    is left alone."""
    frozen = gc.get_freeze_count()
    collector.started()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


@pytest.mark.usefixtures("restored")
def test_resume_turns_it_on_without_freezing() -> None:
    """main() on its way out of a command that never started (an error, --help)."""
    frozen = gc.get_freeze_count()
    collector.pause()
    collector.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
    collector.resume()  # again: nothing
    assert gc.isenabled()


# Runs main() as the console script does, counting the collector's passes by generation (a
# full pass is generation 2) and what was frozen, written when the process exits.
COUNTING = """
import atexit, gc, json, sys
passes = [0, 0, 0]
gc.callbacks.append(lambda phase, info: phase == "stop" and passes.__setitem__(
    info["generation"], passes[info["generation"]] + 1))
atexit.register(lambda: sys.stderr.write(json.dumps(
    {"passes": passes, "frozen": gc.get_freeze_count(), "enabled": gc.isenabled()}) + "\\n"))
from stacksafe.cli.main import main
sys.argv = ["stacksafe", *sys.argv[1:]]
main()
"""


def counted(cli: Cli, *args: str, script: str = COUNTING) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=cli.env(),
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stderr.splitlines()[-1])
    return found


def test_a_local_command_starts_without_a_full_pass(tmp_path: Path) -> None:
    """Before the pause, `accounts list` made ~150 passes while it imported, one of them over
    everything (bench/README.md, "Start-up")."""
    cli = Cli(tmp_path / "data")
    seed(cli.in_process())
    report = counted(cli, "accounts", "list")
    passes = report["passes"]
    assert isinstance(passes, list)
    assert passes[2] == 0
    assert sum(passes) < 20
    assert report["frozen"] != 0  # started: the installation was opened
    assert report["enabled"] is True


def test_a_command_that_never_starts_turns_it_back_on(tmp_path: Path) -> None:
    report = counted(Cli(tmp_path / "data"), "accounts", "--help")
    assert report["frozen"] == 0
    assert report["enabled"] is True


def test_counting_sees_the_passes(tmp_path: Path) -> None:
    """The same count over a process that imports as a start does, without the pause."""
    importing = COUNTING.replace("from stacksafe.cli.main import main", "import sqlalchemy")
    report = counted(Cli(tmp_path / "data"), script=importing.replace("main()", ""))
    passes = report["passes"]
    assert isinstance(passes, list)
    assert sum(passes) > 20
