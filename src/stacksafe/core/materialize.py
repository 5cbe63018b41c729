"""Secrets as files: one read-only file per key in a directory, as Cloud66 delivers them under
``/mnt/cloud66/secrets/<key>``.

Each file is written atomically (a temporary file in the same directory, mode 0400, synced,
then renamed over the old one), so a reader sees the old value or the new one, never half of
one. Files whose value did not change are left alone, so a watcher does not touch them.

The directory must be writable by its owner only. In a directory others may write, they could
replace a secret file with their own value, or plant a manifest naming files to delete; a mode
they chose is not ours to change (``--dir /tmp`` must not make /tmp private), so such a
directory is refused, naming the fix, before anything is written.

Only files this module wrote are ever removed. It keeps their names in a manifest,
``.stacksafe-files``. A key that left the set loses its file; anything else in the directory is
not touched.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stacksafe.core.validation import KEY_PATTERN
from stacksafe.errors import ConfigurationError, InvalidInput
from stacksafe.model import SecretValue

__all__ = ["MANIFEST", "MaterializeReport", "materialize", "write_private_file"]

MANIFEST = ".stacksafe-files"
FILE_MODE = 0o400
DIR_MODE = 0o700


@dataclass
class MaterializeReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".stacksafe-tmp-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_private_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """``data`` in ``path`` (readable by its owner only), atomically; the directory is made
    (mode 0700) if missing. ``ConfigurationError`` naming the path if that fails."""
    try:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        _write_atomically(path, data, mode)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write {path}: {exc.strerror or type(exc).__name__}"
        ) from None


def _current(path: Path) -> bytes | None:
    if path.is_symlink() or not path.is_file():
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def _managed(directory: Path) -> set[str]:
    try:
        names = (directory / MANIFEST).read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return set()
    return {n for n in names if KEY_PATTERN.fullmatch(n)}


def _refuse_shared(directory: Path) -> None:
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & 0o022:
        others = "everyone" if mode & 0o002 else "its group"
        raise InvalidInput(
            f"{directory} is writable by {others} (mode {mode:04o}), who could replace the "
            f"secret files: use a directory only you can write (`chmod go-w "
            f"{shlex.quote(str(directory))}`, or a new --dir); nothing was written"
        )


def materialize(values: Mapping[str, SecretValue], directory: Path) -> MaterializeReport:
    """Make ``directory`` hold exactly one file per key of ``values`` (and the manifest)."""
    if directory.exists() and not directory.is_dir():
        raise InvalidInput(f"{directory} exists and is not a directory")
    for key in values:
        if not KEY_PATTERN.fullmatch(key):  # pragma: no cover - stored keys always match
            raise InvalidInput(f"key {key!r} cannot be a file name")
    report = MaterializeReport()
    try:
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        _refuse_shared(directory)
        previous = _managed(directory)
        for key in sorted(values):
            path = directory / key
            data = values[key].reveal().encode("utf-8")
            if _current(path) == data and path.stat().st_mode & 0o777 == FILE_MODE:
                report.unchanged.append(key)
                continue
            _write_atomically(path, data, FILE_MODE)
            report.written.append(key)
        manifest = "".join(f"{k}\n" for k in sorted(values)).encode("utf-8")
        _write_atomically(directory / MANIFEST, manifest, 0o600)
        for key in sorted(previous - set(values)):
            with contextlib.suppress(FileNotFoundError):
                (directory / key).unlink()
            report.removed.append(key)
        _fsync_dir(directory)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write the secrets into {directory}: {exc.strerror or type(exc).__name__}"
        ) from None
    return report
