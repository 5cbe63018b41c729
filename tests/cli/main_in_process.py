"""The console script's ``main()`` run in this process as if it were its own process.

``MainInProcess`` is ``Cli`` with one difference: ``run`` calls ``stacksafe.cli.main.main``
(what the installed script calls) here instead of starting ``stacksafe``, about 20x cheaper.
Everything ``main`` does is kept: its argument parsing, the one ``Error:`` line, exit codes,
the unexpected-error line. What a process would have of its own is given to it for the call
and taken back after (``_as_its_own_process``): ``sys.argv`` and a ``__main__`` of a script,
stdin/stdout/stderr (pipes: not terminals), exactly the environment ``Cli`` would give the
child, the garbage collector as it was, and logging with no handler, so that a warning reaches
stderr as Python's last resort prints it in a process (pytest's capture handler would
otherwise swallow it). A thread the command leaves running fails the call: a process would
have taken it down, this one would carry it on. tests/cli/test_main_in_process.py holds it to
the installed script's answers.

What stays the subprocess's (``Cli``): ``run`` (it replaces the process), ``serve`` (signals
and a port), terminals, signals, processes racing each other, start-up time, and the exit
status and stderr line as a shell sees them (each command family keeps a test of that).
"""

from __future__ import annotations

import gc
import io
import logging
import os
import subprocess
import sys
import threading
import types
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from stacksafe.cli.main import main
from tests.cli.helpers import STACKSAFE, Cli

__all__ = ["MainInProcess", "in_this_process"]

# Commands whose point is the process itself.
_PROCESS_ONLY = frozenset({"run", "serve"})
# How long a thread the command started may take to end once the command returned.
_THREAD_END_TIMEOUT = 10.0


@dataclass(frozen=True)
class _Captured:
    stdout: io.BytesIO
    stderr: io.BytesIO


def _stream(buffer: io.BytesIO, errors: str) -> io.TextIOWrapper:
    # As CPython makes a process's standard streams under a UTF-8 locale: no newline
    # translation, surrogateescape on stdin and stdout, backslashreplace on stderr.
    return io.TextIOWrapper(
        buffer, encoding="utf-8", errors=errors, newline="\n", write_through=True
    )


@contextmanager
def _as_its_own_process(
    argv: Sequence[str], environ: Mapping[str, str], stdin: bytes
) -> Iterator[_Captured]:
    saved_argv, saved_streams = sys.argv, (sys.stdin, sys.stdout, sys.stderr)
    saved_environ = dict(os.environ)
    root = logging.getLogger()
    saved_handlers = root.handlers[:]
    # main() pauses the cyclic collector and freezes what a start loaded (cli/collector.py):
    # right for a process of its own, not for this one, whose objects it would freeze for good.
    collecting, frozen = gc.isenabled(), gc.get_freeze_count()
    captured = _Captured(io.BytesIO(), io.BytesIO())
    before = set(threading.enumerate())
    streams = (
        _stream(io.BytesIO(stdin), "surrogateescape"),
        _stream(captured.stdout, "surrogateescape"),
        _stream(captured.stderr, "backslashreplace"),
    )
    saved_main = sys.modules["__main__"]
    sys.argv = list(argv)
    # The console script is run as a file: click names the program after argv[0] only then
    # (under `python -m pytest` it would say "python -m pytest.stacksafe").
    sys.modules["__main__"] = types.ModuleType("__main__")
    sys.stdin, sys.stdout, sys.stderr = streams
    os.environ.clear()
    os.environ.update(environ)
    root.handlers = []
    try:
        yield captured
    finally:
        for stream in streams:
            stream.flush()
            stream.detach()  # the wrapper, once collected, must not close what was captured
        sys.argv = saved_argv
        sys.modules["__main__"] = saved_main
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.environ.clear()
        os.environ.update(saved_environ)
        root.handlers = saved_handlers
        if gc.get_freeze_count() > frozen:
            gc.unfreeze()
        if collecting:
            gc.enable()
    left = [t for t in threading.enumerate() if t not in before]
    for thread in left:
        thread.join(_THREAD_END_TIMEOUT)
    running = [t.name for t in left if t.is_alive()]
    assert not running, f"stacksafe {' '.join(argv[1:])} left threads running: {running}"


def _exit_status(exit: SystemExit) -> int:
    """The status a process would end with after ``exit`` (as the interpreter decides it)."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code
    sys.stderr.write(f"{exit.code}\n")
    return 1


@dataclass(frozen=True)
class MainInProcess(Cli):
    """``Cli`` whose commands run ``stacksafe.cli.main.main`` in this process."""

    def run(
        self,
        *args: str,
        input: str | bytes | None = None,
        env: Mapping[str, str] | None = None,
        measured: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """``Cli.run`` in this process (``measured`` has no effect: this process is traced
        whenever the run is)."""
        if args[:1] and args[0] in _PROCESS_ONLY:
            raise ValueError(f"`{args[0]}` is about its process: use Cli (a subprocess)")
        data = input.encode() if isinstance(input, str) else (input or b"")
        argv = [str(STACKSAFE), *args]
        with _as_its_own_process(argv, self.env(env), data) as captured:
            try:
                main()
            except SystemExit as exit:
                status = _exit_status(exit)
            else:
                raise AssertionError("main() returned without an exit status")
        return subprocess.CompletedProcess(
            argv,
            status,
            captured.stdout.getvalue().decode("utf-8", "replace"),
            captured.stderr.getvalue().decode("utf-8", "replace"),
        )

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        raise TypeError("a process of its own is a subprocess: use Cli.popen")

    def run_many(
        self,
        commands: Sequence[Sequence[str]],
        inputs: Mapping[int, str | bytes] | None = None,
        *,
        measured: bool = True,
    ) -> list[subprocess.CompletedProcess[str]]:
        """The commands one after the other (they are independent, as for ``Cli.run_many``)."""
        inputs = inputs or {}
        return [self.run(*args, input=inputs.get(i)) for i, args in enumerate(commands)]


def in_this_process(cli: Cli) -> MainInProcess:
    """``cli``'s data dir and database, its commands run in this process."""
    return MainInProcess(cli.data_dir, cli.database_url)
