"""`run --mask` / `run --watch`: stacksafe stays as the parent of the command.

Without those options `run` execs the command and is gone. With them it keeps running, and:
- forwards the signals a supervisor should (INT, TERM, HUP, QUIT, USR1, USR2) to the child;
- with ``--mask``, passes the child's stdout and stderr through a ``Masker``;
- with ``--watch``, when the secrets change, fetches them again, stops the child (SIGTERM,
  then SIGKILL after ``grace`` seconds, as Doppler does) and starts it with the new values.

Its exit status is the child's, or 128 + the signal that ended the child, as a shell reports it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from types import FrameType
from typing import BinaryIO

from stacksafe.cli.watch import Watcher
from stacksafe.core.masking import Masker
from stacksafe.model import SecretValue

__all__ = ["FORWARDED", "supervise"]

POLL = 0.1  # seconds between looks at the child while a restart may be asked for

FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


def _pump(source: BinaryIO, sink: BinaryIO, masker: Masker) -> None:
    fd = source.fileno()
    while chunk := os.read(fd, 65536):
        sink.write(masker.feed(chunk))
        sink.flush()
    sink.write(masker.flush())
    sink.flush()


class _Child:
    def __init__(
        self,
        command: list[str],
        env: Mapping[str, str],
        values: Mapping[str, SecretValue],
        mask: bool,
    ) -> None:
        pipe = subprocess.PIPE if mask else None
        self.process = subprocess.Popen(command, env=dict(env), stdout=pipe, stderr=pipe)
        self.pumps: list[threading.Thread] = []
        if mask:
            assert self.process.stdout is not None  # noqa: S101 - PIPE given
            assert self.process.stderr is not None  # noqa: S101 - PIPE given
            for source, sink in (
                (self.process.stdout, sys.stdout.buffer),
                (self.process.stderr, sys.stderr.buffer),
            ):
                pump = threading.Thread(target=_pump, args=(source, sink, Masker(values)))
                pump.start()
                self.pumps.append(pump)

    def wait(self) -> int:
        status = self.process.wait()
        for pump in self.pumps:
            pump.join()
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
    environment: Callable[[], tuple[dict[str, str], Mapping[str, SecretValue]]],
    *,
    mask: bool,
    watcher: Watcher | None,
    grace: float,
) -> int:
    """Run ``command`` under supervision until it exits on its own or is signalled; the
    environment (and the values to mask) come from ``environment()``, again on every restart.

    One thread (this one) starts and stops children; the watcher thread only fetches the new
    environment and asks for a restart, so a child is never replaced behind this loop's back.
    """
    env, values = environment()
    child = _Child(command, env, values, mask)
    signalled = threading.Event()
    restart = threading.Event()
    fresh: list[tuple[dict[str, str], Mapping[str, SecretValue]]] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        signalled.set()
        if watcher is not None:
            watcher.stop()
        if child.process.poll() is None:
            child.process.send_signal(signum)

    def watch() -> None:
        assert watcher is not None  # noqa: S101
        while watcher.wait_for_change():
            fresh.append(environment())
            restart.set()

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    if watcher is not None:
        threading.Thread(target=watch, daemon=True).start()
    try:
        while True:
            try:
                child.process.wait(timeout=POLL)
            except subprocess.TimeoutExpired:
                if restart.is_set() and not signalled.is_set():
                    restart.clear()
                    env, values = fresh.pop()
                    fresh.clear()
                    child.stop(grace)
                    child.wait()
                    if signalled.is_set():  # a signal came while the old one stopped
                        break
                    child = _Child(command, env, values, mask)
                    sys.stderr.write("stacksafe: secrets changed; the command was restarted\n")
                    sys.stderr.flush()
                continue
            break
        status = child.wait()
    finally:
        if watcher is not None:
            watcher.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return _exit_status(status)
