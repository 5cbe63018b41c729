"""``MainInProcess`` answers as the installed script does: the same status, stdout and stderr
for a success, a usage error, each kind of refusal and a failure logged on the way; and the
process it stands in for leaves nothing behind in this one."""

from __future__ import annotations

import gc
import os

import pytest

from tests.cli.helpers import Cli
from tests.cli.main_in_process import in_this_process

WEB = ("--stack", "web")
# Commands that change nothing, so that the installed script and main() in this process can
# both run each one and must answer alike (inputs: command index → stdin).
COMMANDS = [
    ("secrets", "list", *WEB, "--reveal", "--format", "json"),
    ("secrets", "get", "K", *WEB, "--plain"),
    ("secrets", "get", "NOPE", *WEB),  # not found: exit 3, one line
    ("secrets", "lsit"),  # a usage error: click's, made one line by main()
    ("secrets", "set", "BAD", *WEB, "--stdin"),  # a value that is not UTF-8, from stdin
    ("rotation", "run", "--key", "HOOKED", *WEB),  # exit 1: the failed rotation's report
    ("accounts", "list", "--format", "json"),
    ("--version",),
]
INPUTS: dict[int, str | bytes] = {4: b"caf\xe9\n"}


def test_every_outcome_is_the_installed_scripts(seeded: Cli) -> None:
    here = in_this_process(seeded)
    fast = seeded.in_process()
    fast.ok("secrets", "set", "K=kay", *WEB)
    fast.ok("secrets", "set", "HOOKED=original", *WEB)
    # Refused by the default outbound policy when it runs: the rotation fails at once.
    fast.ok(
        "rotation", "set", "HOOKED", *WEB, "--rotator", "webhook", "--url", "http://localhost:9/x"
    )
    real = seeded.run_many(COMMANDS, INPUTS)
    statuses = [done.returncode for done in real]
    assert statuses == [0, 0, 3, 2, 2, 1, 0, 0]  # each kind of outcome is here
    for i, (args, done) in enumerate(zip(COMMANDS, real, strict=True)):
        twin = here.run(*args, input=INPUTS.get(i))
        assert (twin.returncode, twin.stdout, twin.stderr) == (
            done.returncode,
            done.stdout,
            done.stderr,
        ), args


def test_the_command_sees_only_its_own_environment_and_leaves_ours(
    seeded: Cli, tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A data dir of this process's own must not reach the command (Cli gives the child none).
    monkeypatch.setenv("STACKSAFE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STACKSAFE_ADDR", "http://127.0.0.1:9")
    before = dict(os.environ)
    here = in_this_process(seeded)
    listed = here.json("accounts", "list", "--format", "json")
    assert [account["name"] for account in listed] == ["acme"]
    remote = here.run("accounts", "list", env={"STACKSAFE_ADDR": "http://127.0.0.1:9"})
    assert remote.returncode != 0  # remote mode, as asked, and nobody listens there
    assert dict(os.environ) == before


def test_run_and_serve_stay_processes(seeded: Cli) -> None:
    here = in_this_process(seeded)
    for command in ("run", "serve"):
        with pytest.raises(ValueError, match="use Cli"):
            here.run(command, "--help")


def test_the_collector_is_ours_again_after_a_command(seeded: Cli) -> None:
    """main() pauses the cyclic collector and freezes what it loaded (cli/collector.py): in a
    process of its own; in this one, both are undone when the command returns."""
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    in_this_process(seeded).ok("secrets", "list", *WEB)
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
