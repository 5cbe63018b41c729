"""The file sink: the audit stream as JSON lines in a local file (mode 0600), one write and one
fsync per batch, rotated by size (FILE.1 ... FILE.N, newest first) for a shipper to read
(Vector, Fluent Bit: docs/operations.md, "Audit streaming").

A batch is written whole or not at all: a write that fails half-way (a full disk) is cut back
to where it began, so the file never holds half a line, and the loop sends the batch again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Sequence
from pathlib import Path

from stacksafe.core.streams.config import DEFAULT_KEEP, DEFAULT_MAX_BYTES, SinkConfig
from stacksafe.core.streams.sink import SinkUnavailable

__all__ = ["FileSink"]

_MODE = 0o600


class FileSink:
    """Appends batches to ``path``; before a batch that would take it past ``max_bytes``, the
    file becomes ``path.1`` (the older ones move up, ``keep`` of them are kept)."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = DEFAULT_KEEP):
        self.path, self.max_bytes, self.keep = path, max_bytes, keep
        self._fd: int | None = None
        self._lock = threading.Lock()  # deliver and close may come from two threads

    @classmethod
    def from_config(cls, config: SinkConfig) -> FileSink:
        options = config.options
        return cls(Path(options["path"]), int(options["max_bytes"]), int(options["keep"]))

    def __repr__(self) -> str:
        return f"FileSink({str(self.path)!r})"

    def deliver(self, lines: Sequence[bytes]) -> None:
        data = b"".join(line + b"\n" for line in lines)
        with self._lock:
            try:
                fd = self._open()
                size = os.fstat(fd).st_size
                if size and size + len(data) > self.max_bytes:
                    self._rotate()
                    fd = self._open()
                    size = 0
                self._write(fd, data, size)
            except OSError as exc:
                self._close()
                raise SinkUnavailable(f"writing {self.path}: {_reason(exc)}") from None

    def close(self) -> None:
        with self._lock:
            self._close()

    def _open(self) -> int:
        """The file's descriptor, opened again when the file was moved or removed meanwhile
        (rotated by another server writing the same file, or by hand)."""
        if self._fd is not None:
            try:
                same = os.lstat(self.path).st_ino == os.fstat(self._fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return self._fd
            self._close()
        # O_NOFOLLOW: a symlink planted at the path would have its target narrowed to 0600 and
        # appended to. O_NONBLOCK: a FIFO there fails at once instead of holding the loop
        # (it changes nothing for a regular file's writes).
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(self.path, flags | os.O_NONBLOCK, _MODE)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            os.fchmod(fd, _MODE)  # a file made by hand beforehand is narrowed too
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        return fd

    def _write(self, fd: int, data: bytes, size: int) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)  # no half batch (and no half line) stays behind
            raise

    def _rotate(self) -> None:
        self._close()
        if self.keep == 0:
            self.path.unlink(missing_ok=True)
        else:
            for n in range(self.keep - 1, 0, -1):
                older = self._numbered(n)
                if older.exists():
                    older.replace(self._numbered(n + 1))
            self.path.replace(self._numbered(1))
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the renames survive a crash with the new file's lines
        finally:
            os.close(directory)

    def _numbered(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:  # what O_NOFOLLOW answers for a symlink
        return "it is a symbolic link (refused: the sink writes only a regular file)"
    return exc.strerror or type(exc).__name__
