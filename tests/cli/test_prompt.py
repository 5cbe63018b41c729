"""`secrets set KEY` on a terminal asks for the value twice with echo off."""

from __future__ import annotations

import os
import pty
import select
import termios
import time

from tests.cli.helpers import STACKSAFE, Cli, parent_environ

DEADLINE = 30.0


def read_until(fd: int, marker: bytes, seen: bytearray) -> None:
    end = time.monotonic() + DEADLINE
    while marker not in seen:
        remaining = end - time.monotonic()
        assert remaining > 0, f"timed out waiting for {marker!r}; got {bytes(seen)!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk


def type_when_echo_is_off(fd: int, text: bytes) -> None:
    """Type once the prompt has turned echo off: it flushes input typed before (TCSAFLUSH)."""
    end = time.monotonic() + DEADLINE
    while termios.tcgetattr(fd)[3] & termios.ECHO:
        assert time.monotonic() < end, "the prompt never turned echo off"
        select.select([], [], [], 0.01)  # a short poll of the terminal's mode, bounded above
    os.write(fd, text)


def test_hidden_prompt_sets_the_value_without_echoing_it(seeded: Cli) -> None:
    env = {**parent_environ(), "STACKSAFE_DATA_DIR": str(seeded.data_dir)}
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdin/stdout/stderr are the terminal
        argv = [str(STACKSAFE), "secrets", "set", "TYPED", "--stack", "web"]
        os.execve(argv[0], argv, env)  # noqa: S606
    seen = bytearray()
    read_until(fd, b"Value for TYPED:", seen)
    type_when_echo_is_off(fd, b"typed-s3cret\n")
    read_until(fd, b"Repeat for confirmation:", seen)
    type_when_echo_is_off(fd, b"typed-s3cret\n")
    read_until(fd, b"(version 1)", seen)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"typed-s3cret" not in seen  # echo was off
    got = seeded.ok("secrets", "get", "TYPED", "--stack", "web", "--plain")
    assert got.stdout == "typed-s3cret\n"
