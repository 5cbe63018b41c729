"""Several git processes read at once: a thread per process drains its output, as git writes
it, into one bounded queue that the scanning thread empties.

Reading a pipe releases the GIL, so the threads cost the scan next to nothing; the queue's
bound holds git back (its pipe fills) when the scan falls behind, so memory stays a few pieces
per process. git's messages go to a file each: a pipe left unread could fill and stall git.
"""

from __future__ import annotations

import contextlib
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from stacksafe.errors import InvalidInput
from stacksafe.scan.sources import git_command

__all__ = ["PIECE", "GitCommand", "outputs"]

PIECE = 1 << 20  # bytes read at a time, and the size asked of each pipe
_QUEUED = 4  # pieces waiting per process at most


@dataclass(frozen=True, slots=True)
class GitCommand:
    """A git command (``name`` in errors), and what it reads on its standard input."""

    name: str
    arguments: tuple[str, ...]
    stdin: bytes = b""


# What a reading thread queues: (command index, a piece of output, or None at its end, or the
# error that stopped the thread).
_Item = tuple[int, bytes | BaseException | None]


def outputs(
    repo: Path, commands: Sequence[GitCommand], parallel: int
) -> Iterator[tuple[int, bytes]]:
    """(index in ``commands``, a piece of that command's output) as the processes write,
    ``parallel`` of them at once (the next starts when one ends, so slices of unequal cost
    keep every process busy); ``b""`` when one's output has ended. A git that fails raises
    ``InvalidInput`` with its message once its output is read; leaving early stops every git
    still running."""
    pieces: queue.Queue[_Item] = queue.Queue(maxsize=_QUEUED * max(1, parallel))
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        running: dict[int, tuple[subprocess.Popen[bytes], IO[bytes]]] = {}
        threads: list[threading.Thread] = []

        def start(index: int) -> None:
            command = commands[index]
            errors = stack.enter_context(tempfile.TemporaryFile())
            arguments, env = git_command(repo, *command.arguments)
            process = subprocess.Popen(
                arguments,
                stdin=subprocess.PIPE if command.stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=env,
                bufsize=0,
            )
            running[index] = (process, errors)
            thread = threading.Thread(
                target=_drain, args=(index, process, command.stdin, pieces, stop), daemon=True
            )
            thread.start()
            threads.append(thread)

        try:
            started = min(len(commands), max(1, parallel))
            for index in range(started):
                start(index)
            left = len(commands)
            while left:
                index, item = pieces.get()
                if isinstance(item, bytes):
                    yield index, item
                    continue
                left -= 1
                process, errors = running.pop(index)
                if process.stdout is not None:  # its thread read its last piece
                    process.stdout.close()
                if process.wait() != 0:
                    errors.seek(0)
                    message = errors.read().decode("utf-8", "replace").strip()
                    raise InvalidInput(f"{commands[index].name} failed: {message}")
                if item is not None:  # its output could not be read whole
                    name = type(item).__name__
                    raise InvalidInput(f"{commands[index].name}: its output was cut ({name})")
                if started < len(commands):
                    start(started)
                    started += 1
                yield index, b""
        finally:
            stop.set()
            _stop(list(running.values()), threads, pieces)


def _drain(
    index: int,
    process: subprocess.Popen[bytes],
    stdin: bytes,
    pieces: queue.Queue[_Item],
    stop: threading.Event,
) -> None:
    try:
        if process.stdin is not None:
            with process.stdin:
                process.stdin.write(stdin)  # git reads it all before it writes
        output = process.stdout
        if output is None:  # pragma: no cover - stdout=PIPE gives one
            raise RuntimeError("git's output is not a pipe")
        _larger_pipe(output)
        while piece := output.read(PIECE):
            if stop.is_set():  # the scan was left: what git wrote is not wanted
                return
            pieces.put((index, piece))
        pieces.put((index, None))
    except OSError as exc:  # git ended early: failed, or stopped because the scan was left
        pieces.put((index, exc))


def _stop(
    running: list[tuple[subprocess.Popen[bytes], IO[bytes]]],
    threads: list[threading.Thread],
    pieces: queue.Queue[_Item],
) -> None:
    """Stops the gits still running and lets their threads end (told to by ``stop``; one may
    wait on a full queue: it is emptied until none is left)."""
    for process, _ in running:
        if process.poll() is None:
            process.kill()
    while any(thread.is_alive() for thread in threads):
        with contextlib.suppress(queue.Empty):
            while True:
                pieces.get_nowait()
        for thread in threads:
            thread.join(timeout=0.05)
    for process, _ in running:
        if process.stdout is not None:
            process.stdout.close()
        process.wait()


def _larger_pipe(pipe: IO[bytes]) -> None:
    """A pipe of ``PIECE`` bytes (Linux's default is 64 KiB): git and the reader wake each
    other a sixteenth as often. Elsewhere, or over the system's limit, the pipe stays."""
    if sys.platform == "linux":
        import fcntl

        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, PIECE)
