"""`run --mask` / `run --watch`: stacksafe stays as the parent of the command.

Without those options `run` execs the command and is gone. With them it keeps running, and:
- forwards signals to the command: TERM, HUP, USR1 and USR2 always; INT and QUIT only when
  stdin is not a terminal (on a terminal, Ctrl-C and Ctrl-\\ already reach the whole foreground
  process group, the command included: forwarding them too would deliver them twice, and many
  programs take a second Ctrl-C as "quit now"; Doppler decides the same way);
- with ``--mask``, passes the command's stdout and stderr through a ``Masker``: one for each
  stream, or one for both when ours are the same file (a terminal, ``2>&1``), where the reader
  sees the two as one: a value split across them would show there, masked in neither;
- with ``--watch``, when the secrets change, fetches them again, stops the command (SIGTERM,
  then SIGKILL after ``grace`` seconds, as Doppler does) and starts it with the new values.
  INT, TERM and QUIT end the watching; HUP, USR1 and USR2 (usually "reload") do not.

One thread, this one, starts, signals and stops children. Signal handlers only note the signal,
and the watcher thread only hands over new values; the loop below acts on both, so a signal can
never be sent to a child that was already replaced.

Its exit status is the command's, or 128 + the signal that ended it, as a shell reports it.

Before it starts the command it makes itself non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``, Linux):
the command runs as the same user and could otherwise read our ``/proc/$PPID/environ`` (which
still holds ``STACKSAFE_TOKEN`` and the rest taken out of its own environment) or ptrace us.
Non-dumpable, those files belong to root and only a process with ``CAP_SYS_PTRACE`` (root, as a
rule) gets in. ``execve`` makes the command dumpable again: that concerns only itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from types import FrameType
from typing import BinaryIO

from stacksafe.cli import collector
from stacksafe.cli.watch import Watcher
from stacksafe.core.masking import Masker
from stacksafe.errors import StacksafeError
from stacksafe.model import SecretValue

__all__ = ["FORWARDED", "not_dumpable", "supervise"]

POLL = 0.1  # seconds between looks at the child, pending signals and new values
DRAIN = 1.0  # seconds to let the pumps finish after the command exits (not its grandchildren)

FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
ENDING = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGQUIT})
TERMINAL_SENT = frozenset({signal.SIGINT, signal.SIGQUIT})

Environment = Callable[[], tuple[dict[str, str], Mapping[str, SecretValue]]]


PR_SET_DUMPABLE = 4  # <linux/prctl.h>


def not_dumpable() -> None:
    """Keep processes of the same user out of this one's ``/proc/PID/environ``, ``mem`` and
    ptrace (Linux; elsewhere nothing). Failing to is an error: the command is not started."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise StacksafeError(
            f"cannot keep the command out of stacksafe's environment: prctl: {os.strerror(errno)}"
        )


def _pump(source: BinaryIO, sink: BinaryIO, masker: Masker) -> None:
    fd = source.fileno()
    try:
        while chunk := os.read(fd, 65536):
            sink.write(masker.feed(chunk))
            sink.flush()
        sink.write(masker.flush())
        sink.flush()
    except (BrokenPipeError, ValueError, OSError):
        # Our reader went away (`| head -1`): close the command's end too, so its next write
        # fails (SIGPIPE, EPIPE) and it ends, instead of blocking on a pipe nobody drains.
        with contextlib.suppress(OSError):
            source.close()


def _one_screen() -> bool:
    """Whether our stdout and stderr are the same file: one terminal, or one pipe or file
    (``2>&1``). Their reader then sees one stream, and the command's two are masked as one."""
    try:
        return os.path.samestat(os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno()))
    except (OSError, ValueError):  # closed, or not a real file (an embedding's stream)
        return False


class _Child:
    def __init__(
        self,
        command: list[str],
        env: Mapping[str, str],
        values: Mapping[str, SecretValue],
        mask: bool,
    ) -> None:
        pipe = subprocess.PIPE if mask else None
        merged = mask and _one_screen()
        # Merged: the command's stderr is its stdout's pipe, so its writes to either arrive in
        # the order it made them, through one masker, to the one file both of ours are.
        errors = subprocess.STDOUT if merged else pipe
        self.process = subprocess.Popen(command, env=dict(env), stdout=pipe, stderr=errors)
        self.pumps: list[threading.Thread] = []
        if mask:
            assert self.process.stdout is not None  # noqa: S101 - PIPE given
            streams = [(self.process.stdout, sys.stdout.buffer)]
            if not merged:
                assert self.process.stderr is not None  # noqa: S101 - PIPE given
                streams.append((self.process.stderr, sys.stderr.buffer))
            for source, sink in streams:
                pump = threading.Thread(
                    target=_pump, args=(source, sink, Masker(values)), daemon=True
                )
                pump.start()
                self.pumps.append(pump)

    def wait(self) -> int:
        status = self.process.wait()
        # The command's own output is drained within moments; a grandchild that inherited the
        # pipe and lives on does not hold `run` up (its later output is not shown).
        for pump in self.pumps:
            pump.join(timeout=DRAIN)
        return status

    def stop(self, grace: float) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def supervise(
    command: list[str],
    environment: Environment,
    *,
    mask: bool,
    watcher: Watcher | None,
    grace: float,
) -> int:
    """Run ``command`` under supervision until it exits on its own or is signalled; the
    environment (and the values to mask) come from ``environment()``, again on every restart."""
    collector.started()
    on_terminal = sys.stdin.isatty()
    noted: list[int] = []  # signals received, not yet acted on (appended by the handler)
    ending = threading.Event()
    fresh_lock = threading.Lock()
    fresh: list[tuple[dict[str, str], Mapping[str, SecretValue]]] = []  # newest values

    def note(signum: int, frame: FrameType | None) -> None:
        noted.append(signum)
        if signum in ENDING:
            ending.set()
            if watcher is not None:
                watcher.stop()

    def watch() -> None:
        assert watcher is not None  # noqa: S101
        while watcher.wait_for_change():
            try:
                values = environment()
            except StacksafeError as exc:
                sys.stderr.write(f"stacksafe: {exc.message}; the command keeps running\n")
                sys.stderr.flush()
                watcher.retry()
                continue
            with fresh_lock:
                fresh[:] = [values]

    not_dumpable()
    previous = {signum: signal.signal(signum, note) for signum in FORWARDED}
    try:
        env, values = environment()
        child = _Child(command, env, values, mask)
        if watcher is not None:
            threading.Thread(target=watch, daemon=True).start()
        while True:
            while noted:
                signum = noted.pop(0)
                if not (on_terminal and signum in TERMINAL_SENT) and child.process.poll() is None:
                    child.process.send_signal(signum)
            try:
                child.process.wait(timeout=POLL)
                break
            except subprocess.TimeoutExpired:
                pass
            with fresh_lock:
                update = fresh.pop() if fresh and not ending.is_set() else None
            if update is not None:
                child.stop(grace)
                child.wait()
                if ending.is_set():  # a signal came while the old one stopped
                    break
                env, values = update
                child = _Child(command, env, values, mask)
                sys.stderr.write("stacksafe: secrets changed; the command was restarted\n")
                sys.stderr.flush()
        status = child.wait()
    finally:
        if watcher is not None:
            watcher.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return _exit_status(status)
