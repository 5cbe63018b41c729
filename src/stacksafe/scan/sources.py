"""What a scan reads of a file system: files under paths, as ``git`` would list them (its
history and staged changes: ``history``).

Directories are walked without following symlinks and never into ``.git``; inside a git work
tree, files git ignores (``.gitignore``, ``info/exclude``) are left out, as ``git status``
would. A file is binary when its first 8,000 bytes hold a NUL byte (git's own test).
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from stacksafe.errors import InvalidInput

__all__ = [
    "BINARY_SNIFF",
    "FileEntry",
    "display_path",
    "excluded",
    "files_under",
    "git",
    "git_command",
    "is_binary",
]

BINARY_SNIFF = 8000
SKIPPED_DIRS = frozenset({".git"})


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A regular file to scan: ``real`` is opened, ``display`` is what findings name."""

    real: Path
    display: str


def is_binary(head: bytes) -> bool:
    """Whether a file starting with ``head`` is binary (a NUL in its first 8,000 bytes)."""
    return b"\x00" in head[:BINARY_SNIFF]


def display_path(path: Path, cwd: Path | None = None) -> str:
    """``path`` relative to the working directory when below it (stable across machines)."""
    cwd = Path.cwd() if cwd is None else cwd
    absolute = path if path.is_absolute() else cwd / path
    try:
        return absolute.relative_to(cwd).as_posix()
    except ValueError:
        return absolute.as_posix()


def git_command(repo: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    """The command and environment to run git on ``repo``, which may be anyone's: without
    stacksafe's own variables (a token, a master key: nothing git needs) and without the
    file-system monitor, a command that a repository's own configuration may name and git would
    run."""
    command = ["git", "-C", str(repo), "-c", "core.quotepath=off", "-c", "core.fsmonitor=false"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKSAFE_")}
    return [*command, *args], env


def git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run git on ``repo`` (see ``git_command``) to its end."""
    command, env = git_command(repo, *args)
    return subprocess.run(command, capture_output=True, check=False, env=env)


class _Listed:
    """What git does not ignore under a directory: files, and whole directories it lists as
    one entry (an untracked nested repository, ``vendor/``), whose files all count."""

    def __init__(self, directory: Path, names: list[str]) -> None:
        self.files = {directory / n for n in names if n and not n.endswith("/")}
        self.trees = [directory / n.rstrip("/") for n in names if n.endswith("/")]

    def __contains__(self, path: Path) -> bool:
        return path in self.files or any(path.is_relative_to(tree) for tree in self.trees)


def _not_ignored(directory: Path) -> _Listed | None:
    """What git does not ignore under ``directory``; None outside a work tree, or when the
    directory itself is ignored (named on the command line, all of it is scanned: a log
    directory is usually ignored, and is what one scans)."""
    done = git(directory, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if done.returncode != 0:
        return None
    if git(directory, "check-ignore", "-q", str(directory.resolve())).returncode == 0:
        return None
    return _Listed(directory, done.stdout.decode("utf-8", "surrogateescape").split("\0"))


def _walk(directory: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(files):
            yield Path(root, name)


def excluded(display: str, patterns: Sequence[str]) -> bool:
    """Whether ``display`` or one of its parent directories matches a glob of ``patterns``
    (``*`` also matches ``/``): ``tests`` and ``tests/*`` both leave out all of tests/."""
    if not patterns:
        return False
    parts = PurePosixPath(display).parts
    prefixes = [PurePosixPath(*parts[: i + 1]).as_posix() for i in range(len(parts))]
    return any(fnmatch.fnmatchcase(p, pattern) for p in prefixes for pattern in patterns)


def files_under(
    paths: Sequence[str], *, gitignore: bool = True, exclude: Sequence[str] = ()
) -> list[FileEntry]:
    """The regular files named by ``paths`` (files, or directories walked), sorted, once each,
    less those ``exclude`` matches (see ``excluded``).

    A file or directory named explicitly is scanned even if git ignores it; inside a named
    directory, what git ignores is left out. Symlinks are not followed.
    """
    cwd = Path.cwd()
    seen: set[Path] = set()
    found: list[FileEntry] = []
    for given in paths:
        path = Path(given)
        if not path.exists() and not path.is_symlink():
            raise InvalidInput(f"{given} does not exist")
        if path.is_dir() and not path.is_symlink():
            listed = _not_ignored(path) if gitignore else None
            candidates = [p for p in _walk(path) if listed is None or p in listed]
        else:
            candidates = [path]
        for candidate in candidates:
            if SKIPPED_DIRS.intersection(candidate.parts) or candidate.is_symlink():
                continue
            if not candidate.is_file():
                continue
            key = candidate.resolve()
            display = display_path(candidate, cwd)
            if key not in seen and not excluded(display, exclude):
                seen.add(key)
                found.append(FileEntry(candidate, display))
    return found
