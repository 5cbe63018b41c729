"""Drivers for the `stacksafe` command (fixtures in conftest.py).

* ``Cli`` runs the real installed console script as a subprocess: exit codes, stderr, stdin and
  signals are exactly what a user gets. ``cli`` uses SQLite; ``cli_any_db`` runs on SQLite and on
  the throwaway PostgreSQL (the ``database_url`` fixture of tests/conftest.py).
* ``InProcessCli`` invokes the same Typer app in this process through ``CliRunner`` (about 20x
  faster) and maps ``StacksafeError`` to the exit code and one-line message exactly as
  ``stacksafe.cli.main.main`` does. Used to seed data and to take before/after snapshots.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from stacksafe.cli.main import app
from stacksafe.errors import StacksafeError

STACKSAFE = Path(sys.executable).parent / "stacksafe"
TIMEOUT = 60

__all__ = [
    "STACKSAFE",
    "Cli",
    "CliOutcome",
    "InProcessCli",
    "error_line",
    "on_a_terminal",
    "parent_environ",
    "seed",
]


def parent_environ(*, measured: bool = True) -> dict[str, str]:
    """This process's environment without any STACKSAFE_* setting that could leak in.

    ``measured=False`` also leaves out coverage's settings (COVERAGE_PROCESS_CONFIG, which
    pyproject's ``patch = ["subprocess"]`` sets for every process the tests start): a Python
    process started with it is not traced. For a process that only sets up the state a test's
    subject needs, or carries a load through code other tests measure: tracing about doubles
    a short process's CPU, and its data file adds nothing to the report.
    """
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("STACKSAFE_") and (measured or not k.startswith("COVERAGE_"))
    }


def error_line(stderr: str) -> str:
    """The single ``Error: ...`` line of a failed command (asserts there is exactly one line)."""
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


@dataclass(frozen=True)
class Cli:
    """The installed `stacksafe` console script bound to one data dir (and database)."""

    data_dir: Path
    database_url: str | None = None

    def env(
        self, overrides: Mapping[str, str] | None = None, *, measured: bool = True
    ) -> dict[str, str]:
        """The command's environment (``measured``: traced by coverage; see parent_environ)."""
        env = parent_environ(measured=measured)
        env["STACKSAFE_DATA_DIR"] = str(self.data_dir)
        if self.database_url is not None:
            env["STACKSAFE_DATABASE_URL"] = self.database_url
        env.update(overrides or {})
        return env

    def argv(self, *args: str) -> list[str]:
        return [str(STACKSAFE), *args]

    def run(
        self,
        *args: str,
        input: str | bytes | None = None,
        env: Mapping[str, str] | None = None,
        measured: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``stacksafe ARGS``; stdout/stderr decoded as UTF-8 without newline translation.
        ``measured=False`` for a call that only sets up the test's subject (parent_environ)."""
        data = input.encode() if isinstance(input, str) else input
        done = subprocess.run(
            self.argv(*args),
            input=data,
            stdin=None if data is not None else subprocess.DEVNULL,
            capture_output=True,
            env=self.env(env, measured=measured),
            timeout=TIMEOUT,
            check=False,
        )
        return subprocess.CompletedProcess(
            done.args,
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )

    def ok(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run and insist on exit status 0."""
        done = self.run(*args, **kwargs)
        assert done.returncode == 0, (
            f"stacksafe {' '.join(args)} exited {done.returncode}: {done.stderr!r}"
        )
        return done

    def fails(self, code: int, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run and insist on exit status ``code``, nothing on stdout and one ``Error:`` line."""
        done = self.run(*args, **kwargs)
        assert done.returncode == code, (
            f"stacksafe {' '.join(args)} exited {done.returncode}, not {code}: {done.stderr!r}"
        )
        assert done.stdout == ""
        error_line(done.stderr)
        return done

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self.ok(*args, **kwargs).stdout)

    def popen(self, *args: str, measured: bool = True, **kwargs: Any) -> subprocess.Popen[bytes]:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        env = kwargs.pop("env", None)
        return subprocess.Popen(self.argv(*args), env=self.env(env, measured=measured), **kwargs)

    def run_many(
        self,
        commands: Sequence[Sequence[str]],
        inputs: Mapping[int, str | bytes] | None = None,
        *,
        measured: bool = True,
    ) -> list[subprocess.CompletedProcess[str]]:
        """Run independent commands all at once (``inputs``: command index → its stdin;
        ``measured``: see parent_environ)."""
        inputs = inputs or {}
        procs = [
            self.popen(
                *args,
                stdin=subprocess.PIPE if i in inputs else subprocess.DEVNULL,
                measured=measured,
            )
            for i, args in enumerate(commands)
        ]
        results = []
        try:
            for i, (args, proc) in enumerate(zip(commands, procs, strict=True)):
                data = inputs.get(i)
                out, err = proc.communicate(
                    data.encode() if isinstance(data, str) else data, timeout=TIMEOUT
                )
                results.append(
                    subprocess.CompletedProcess(
                        self.argv(*args),
                        proc.returncode,
                        out.decode("utf-8", "replace"),
                        err.decode("utf-8", "replace"),
                    )
                )
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
        return results

    def in_process(self) -> InProcessCli:
        return InProcessCli(self.data_dir, self.database_url)


@dataclass(frozen=True)
class CliOutcome:
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class InProcessCli:
    """``stacksafe.cli.main.app`` through Typer's CliRunner, with main()'s error mapping."""

    data_dir: Path
    database_url: str | None = None

    def invoke(self, *args: str, input: str | bytes | None = None) -> CliOutcome:
        if args and args[0] == "run":
            raise ValueError("`run` replaces the process (execvpe): use the subprocess helper")
        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("STACKSAFE_")}
        env["STACKSAFE_DATA_DIR"] = str(self.data_dir)
        if self.database_url is not None:
            env["STACKSAFE_DATABASE_URL"] = self.database_url
        result = CliRunner().invoke(app, list(args), input=input, env=env)
        if isinstance(result.exception, StacksafeError):
            # What main() does with it.
            return CliOutcome(
                result.exception.exit_code,
                result.stdout,
                result.stderr + f"Error: {result.exception.message}\n",
            )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliOutcome(result.exit_code, result.stdout, result.stderr)

    def ok(self, *args: str, input: str | bytes | None = None) -> CliOutcome:
        outcome = self.invoke(*args, input=input)
        assert outcome.exit_code == 0, f"stacksafe {' '.join(args)}: {outcome.stderr!r}"
        return outcome

    def fails(self, code: int, *args: str, input: str | bytes | None = None) -> CliOutcome:
        """Insist on exit status ``code``, nothing on stdout and one ``Error:`` line."""
        outcome = self.invoke(*args, input=input)
        assert outcome.exit_code == code, (
            f"stacksafe {' '.join(args)} exited {outcome.exit_code}, not {code}: {outcome.stderr!r}"
        )
        assert outcome.stdout == ""
        error_line(outcome.stderr)
        return outcome

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args).stdout)

    def revealed(self, *target: str) -> dict[str, str]:
        """Key → plaintext of everything ``target`` (e.g. ``--stack``, ``web``) lists."""
        listed = self.json("secrets", "list", *target, "--reveal", "--format", "json")
        return {item["key"]: item["raw_value"] for item in listed["response"]}


def seed(runner: InProcessCli) -> None:
    """init, account ``acme`` with stack ``web`` (production)."""
    runner.ok("init")
    runner.ok("accounts", "create", "acme")
    runner.ok("stacks", "create", "web", "--account", "acme", "--environment", "production")


def on_a_terminal(cli: Cli, *args: str) -> tuple[int, str, str]:
    """Run ``stacksafe ARGS`` with stderr on a pseudo-terminal: (status, stdout, terminal)."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            cli.argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=cli.env({"COLUMNS": "100", "TERM": "xterm"}),
        )
        os.close(terminal)
        shown = bytearray()
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        stdout, _ = proc.communicate(timeout=60)
    finally:
        os.close(controller)
    return proc.returncode, stdout.decode(), shown.decode(errors="replace")
