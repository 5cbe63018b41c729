"""`stacksafe run -- CMD`: real child processes, their environment, exit status and signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.helpers import Cli, InProcessCli, error_line

PYTHON = sys.executable
WEB = ("--stack", "web", "--account", "acme")

PRINT_ENV = "import json, os, sys; print(json.dumps({k: os.getenv(k) for k in sys.argv[1:]}))"

# Waits for SIGTERM/SIGINT; the handler writes a marker (with a secret it was given) and exits 42.
TRAP = """
import os, pathlib, signal, sys
marker, ready = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def on_signal(signum, frame):
    marker.write_text(f"{signal.Signals(signum).name} {os.environ['TOKEN']}")
    sys.exit(42)
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
ready.with_suffix(".tmp").write_text(str(os.getpid()))
ready.with_suffix(".tmp").rename(ready)  # atomic: the pid is there once the file is
while True:
    signal.pause()
"""


def child_env(cli: Cli, *names: str, env: dict[str, str] | None = None) -> dict[str, str | None]:
    done = cli.ok("run", *WEB, "--", PYTHON, "-c", PRINT_ENV, *names, env=env)
    result: dict[str, str | None] = json.loads(done.stdout)
    return result


def test_child_sees_own_and_inherited_secrets_and_they_beat_the_parent_environment(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    cli_runner.ok("secrets", "set", "SHARED=from-account", "--account", "acme")
    cli_runner.ok("secrets", "set", "DB_URL=account-db", "--account", "acme")
    cli_runner.ok("secrets", "set", "DB_URL=stack-db", *WEB)
    cli_runner.ok("secrets", "set", "OWN=line1\nline2 $HOME 'q'", *WEB)
    cli_runner.ok("secrets", "set", "PATH_LIKE=", *WEB)
    parent = {"DB_URL": "from-the-parent-env", "SHARED": "parent", "UNRELATED": "kept"}
    names = ("SHARED", "DB_URL", "OWN", "PATH_LIKE", "UNRELATED", "STACKSAFE_DATA_DIR")
    assert child_env(seeded, *names, env=parent) == {
        "SHARED": "from-account",
        "DB_URL": "stack-db",
        "OWN": "line1\nline2 $HOME 'q'",
        "PATH_LIKE": "",
        "UNRELATED": "kept",
        "STACKSAFE_DATA_DIR": str(seeded.data_dir),
    }


def test_exit_status_passes_through(seeded: Cli) -> None:
    statuses = (7, 0, 255)
    results = seeded.run_many(
        [
            ("run", *WEB, "--", PYTHON, "-c", f"print('out'); raise SystemExit({status})")
            for status in statuses
        ]
    )
    for status, done in zip(statuses, results, strict=True):
        assert (done.returncode, done.stdout, done.stderr) == (status, "out\n", "")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signals_reach_the_command_whose_handler_decides_the_exit_status(
    seeded: Cli, cli_runner: InProcessCli, tmp_path: Path, signum: signal.Signals
) -> None:
    cli_runner.ok("secrets", "set", "TOKEN=tok-123", *WEB)
    marker, ready = tmp_path / "marker", tmp_path / "ready"
    proc = seeded.popen("run", *WEB, "--", PYTHON, "-c", TRAP, str(marker), str(ready))
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert time.monotonic() < deadline, "the command never became ready"
            try:  # a bounded wait that also notices an early exit
                proc.wait(timeout=0.02)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"stacksafe run exited early: {proc.communicate()!r}")
        # `run` execs the command: the stacksafe pid *is* the command, so the signal is direct
        assert ready.read_text() == str(proc.pid)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 42, stderr
    assert marker.read_text() == f"{signum.name} tok-123"
    assert (stdout, stderr) == (b"", b"")


def test_keys_that_are_not_variable_names_are_reported_and_left_out(
    seeded: Cli, cli_runner: InProcessCli, tmp_path: Path
) -> None:
    for assignment in ("app.config=dotted", "my-key=dashed", "9LIVES=digit", "GOOD=passed"):
        cli_runner.ok("secrets", "set", assignment, *WEB)
    names = ("app.config", "my-key", "9LIVES", "GOOD")
    done = seeded.ok("run", *WEB, "--", PYTHON, "-c", PRINT_ENV, *names)
    assert json.loads(done.stdout) == {
        "app.config": None,
        "my-key": None,
        "9LIVES": None,
        "GOOD": "passed",
    }
    [warning] = done.stderr.splitlines()
    assert warning.startswith("Warning: ")
    for name in ("app.config", "my-key", "9LIVES"):
        assert name in warning
    assert "GOOD" not in warning
    assert "dotted" not in warning

    # --strict: refuse, and do not start the command
    marker = tmp_path / "ran"
    done = seeded.fails(
        2,
        "run",
        *WEB,
        "--strict",
        "--",
        PYTHON,
        "-c",
        "import pathlib, sys; pathlib.Path(sys.argv[1]).touch()",
        str(marker),
    )
    line = error_line(done.stderr)
    for name in ("app.config", "my-key", "9LIVES"):
        assert name in line
    assert not marker.exists()


def test_missing_or_unexecutable_command(seeded: Cli, tmp_path: Path) -> None:
    done = seeded.run("run", *WEB, "--", "no-such-command-8f3a")
    assert done.returncode == 127
    assert error_line(done.stderr) == "Error: command not found: no-such-command-8f3a"

    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    assert not os.access(script, os.X_OK)  # not even for root: no x bit at all
    done = seeded.run("run", *WEB, "--", str(script))
    assert done.returncode == 126
    assert error_line(done.stderr) == f"Error: command not executable: {script}"


def test_run_needs_an_existing_stack(seeded: Cli) -> None:
    done = seeded.fails(3, "run", "--stack", "nope", "--", PYTHON, "-c", "print('ran')")
    assert "'nope'" in done.stderr


# Prints every STACKSAFE_* variable the command was given (as JSON).
PRINT_STACKSAFE_ENV = (
    "import json, os; "
    "print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('STACKSAFE_')}))"
)


@pytest.mark.parametrize("supervised", [(), ("--mask",)], ids=["exec", "mask"])
def test_stacksafes_own_credentials_do_not_reach_the_command(
    seeded: Cli, cli_runner: InProcessCli, supervised: tuple[str, ...]
) -> None:
    cli_runner.ok("secrets", "set", "GIVEN=only this one", *WEB)
    cli_runner.ok("secrets", "set", "OTHER=not asked for", *WEB)
    key_file = seeded.data_dir / "master.key"
    credentials = {
        # Every way of giving the master key at once is refused; the key itself, its file and
        # the database are what a local `run` is given, the rest what a remote one may carry.
        "STACKSAFE_MASTER_KEY": key_file.read_text(),
        "STACKSAFE_MASTER_KEY_FILE": str(key_file),
        "STACKSAFE_DATABASE_URL": f"sqlite:///{seeded.data_dir / 'stacksafe.db'}",
        "STACKSAFE_FALLBACK_PASSPHRASE": "correct horse battery staple",
        "STACKSAFE_TOKEN": "ssk_" + "t" * 43,
    }
    command = ("run", *WEB, "--only", "GIVEN", *supervised)
    program = ("--", PYTHON, "-c", PRINT_STACKSAFE_ENV)
    stripped = json.loads(seeded.ok(*command, *program, env=credentials).stdout)
    assert stripped == {"STACKSAFE_DATA_DIR": str(seeded.data_dir)}

    kept = seeded.ok(*command, "--keep-stacksafe-env", *program, env=credentials)
    assert json.loads(kept.stdout) == {"STACKSAFE_DATA_DIR": str(seeded.data_dir), **credentials}


def test_a_secret_named_like_a_stacksafe_variable_is_still_delivered(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    # A stack that configures a nested stacksafe client: its values are what `run` delivers.
    cli_runner.ok("secrets", "set", "STACKSAFE_TOKEN=the stack's own value", *WEB)
    env = {"STACKSAFE_TOKEN": "ssk_" + "p" * 43}
    assert child_env(seeded, "STACKSAFE_TOKEN", env=env) == {
        "STACKSAFE_TOKEN": "the stack's own value"
    }
