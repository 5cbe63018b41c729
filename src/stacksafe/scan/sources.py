"""What a scan reads: files under paths, git history and staged changes, as the real ``git``
reports them.

Directories are walked without following symlinks and never into ``.git``; inside a git work
tree, files git ignores (``.gitignore``, ``info/exclude``) are left out, as ``git status``
would. A file is binary when its first 8,000 bytes hold a NUL byte (git's own test).
"""

from __future__ import annotations

import fnmatch
import os
import secrets
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from unidiff.patch import PatchSet

from stacksafe.errors import InvalidInput

__all__ = [
    "BINARY_SNIFF",
    "FileEntry",
    "Patch",
    "added_runs",
    "display_path",
    "excluded",
    "files_under",
    "git_patches",
    "is_binary",
    "unquoted",
]

BINARY_SNIFF = 8000
SKIPPED_DIRS = frozenset({".git"})


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A regular file to scan: ``real`` is opened, ``display`` is what findings name."""

    real: Path
    display: str


@dataclass(frozen=True, slots=True)
class Patch:
    """One commit's changes (``commit`` None: the staged changes) as a unified diff."""

    commit: str | None
    text: str


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


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run git on ``repo``, which may be anyone's: without stacksafe's own variables (a token,
    a master key: nothing git needs) and without the file-system monitor, a command that a
    repository's own configuration may name and git would run."""
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "core.quotepath=off", "-c", "core.fsmonitor=false", *args],
        capture_output=True,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("STACKSAFE_")},
    )


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
    done = _git(directory, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if done.returncode != 0:
        return None
    if _git(directory, "check-ignore", "-q", str(directory.resolve())).returncode == 0:
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


def _revision(repo: Path, since: str) -> str:
    done = _git(repo, "rev-parse", "--verify", "--quiet", f"{since}^{{commit}}")
    if done.returncode != 0:
        raise InvalidInput(f"--since {since!r} is not a commit of the repository at {repo}")
    return done.stdout.decode().strip()


def git_patches(repo: Path, since: str | None = None) -> list[Patch]:
    """The patches of every commit reachable from HEAD (after ``since`` when given), newest
    first, then the staged changes. A merge commit's patch is what it changed beyond merging
    its parents (``--remerge-diff``: conflict resolutions and evil merges); renames count only
    changed lines; binary changes are not scanned.

    One ``git log -p`` stream, split on a separator that holds 128 random bits drawn for this
    scan: text files may hold any byte after their first 8,000 (git's binary test), so a fixed
    separator could be forged by a file's text (and that text reported as a commit id), but not
    one no file can know. One process instead of one per commit.
    """
    if _git(repo, "rev-parse", "--is-inside-work-tree").returncode != 0:
        raise InvalidInput(f"{repo} is not inside a git work tree (needed by --git)")
    diff_options = ("-p", "--no-color", "--no-ext-diff", "--no-textconv", "--unified=0")
    patches: list[Patch] = []
    has_head = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD").returncode == 0
    if since is not None and not has_head:
        raise InvalidInput("--since needs a repository with commits")
    if has_head:
        revisions = "HEAD" if since is None else f"{_revision(repo, since)}..HEAD"
        separator = "\x00stacksafe-" + secrets.token_hex(16) + "\x00"
        logged = _git(
            repo,
            "log",
            "--format=" + separator.replace("\x00", "%x00") + "%H",
            "--diff-merges=remerge",
            *diff_options,
            revisions,
        )
        if logged.returncode != 0:
            message = logged.stderr.decode("utf-8", "replace").strip()
            raise InvalidInput(f"git log failed: {message}")
        for part in logged.stdout.decode("utf-8", "surrogateescape").split(separator)[1:]:
            commit, _, text = part.partition("\n")
            if text.strip():
                patches.append(Patch(commit, text))
    staged = _git(repo, "diff", "--cached", *diff_options)
    if staged.returncode != 0:
        message = staged.stderr.decode("utf-8", "replace").strip()
        raise InvalidInput(f"git diff --cached failed: {message}")
    text = staged.stdout.decode("utf-8", "surrogateescape")
    if text.strip():
        patches.append(Patch(None, text))
    return patches


# git's C-style escapes in a quoted path (core.quotepath=off still quotes a tab, a newline, a
# double quote or a backslash): a letter escape, or three octal digits spelling one byte.
_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def unquoted(path: str) -> str:
    """A path as git's diff headers spell it, as the file system does: ``"tab\\there"`` is
    the file ``tab<TAB>here``, so findings, globs and baselines name it as a file scan does."""
    if len(path) < 2 or not path.startswith('"') or not path.endswith('"'):
        return path
    raw, body, at = bytearray(), path[1:-1], 0
    while at < len(body):
        char = body[at]
        if char == "\\" and body[at + 1 : at + 4].isdigit() and len(body[at + 1 : at + 4]) == 3:
            raw.append(int(body[at + 1 : at + 4], 8) & 0xFF)
            at += 4
        elif char == "\\" and body[at + 1 : at + 2] in _ESCAPES:
            raw.append(_ESCAPES[body[at + 1]])
            at += 2
        else:
            raw += char.encode("utf-8", "surrogateescape")
            at += 1
    return raw.decode("utf-8", "surrogateescape")


def added_runs(patch: Patch) -> Iterator[tuple[str, int, bytes]]:
    """(path, first line, bytes) of each run of consecutive added lines in ``patch``."""
    for patched in PatchSet.from_string(patch.text):
        path = unquoted(patched.path)
        for hunk in patched:
            first, expected, run = 0, 0, bytearray()
            for line in hunk:
                number = line.target_line_no
                if not line.is_added or number is None:
                    continue
                if run and number != expected:
                    yield path, first, bytes(run)
                    run = bytearray()
                if not run:
                    first = number
                run += line.value.encode("utf-8", "surrogateescape")
                expected = number + 1
            if run:
                yield path, first, bytes(run)
