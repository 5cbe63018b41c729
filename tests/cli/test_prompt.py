"""`secrets set KEY` on a terminal asks for the value twice with echo off."""

from __future__ import annotations

import os
import pty
import select
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


def test_hidden_prompt_sets_the_value_without_echoing_it(seeded: Cli) -> None:
    env = {**parent_environ(), "STACKSAFE_DATA_DIR": str(seeded.data_dir)}
    pid, fd = pty.fork()
    if pid == 0:  # the child: its stdin/stdout/stderr are the terminal
        argv = [str(STACKSAFE), "secrets", "set", "TYPED", "--stack", "web"]
        os.execve(argv[0], argv, env)  # noqa: S606
    seen = bytearray()
    read_until(fd, b"Value for TYPED:", seen)
    os.write(fd, b"typed-s3cret\n")
    read_until(fd, b"Repeat for confirmation:", seen)
    os.write(fd, b"typed-s3cret\n")
    read_until(fd, b"(version 1)", seen)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"typed-s3cret" not in seen  # echo was off
    got = seeded.ok("secrets", "get", "TYPED", "--stack", "web", "--plain")
    assert got.stdout == "typed-s3cret\n"
