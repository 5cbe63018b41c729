"""A repository's history as git writes it: the lines every commit and the staged changes
added, read from ``git log -p`` while git runs.

One ``git log -p`` process for the history (one per commit would cost a process each), then
``git diff --cached``; each is read as its output comes, so the scan of the first commits
overlaps git's diffing of the next ones, as gitleaks reads git's stream. git's options are
fixed so that its output is the format ``patches`` reads whatever the repository's
configuration says: no colour, no external diff or textconv, ``a/``/``b/`` prefixes, no
context lines, no blank-line suppression; paths quoted only where git must.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from stacksafe.errors import InvalidInput
from stacksafe.scan.patches import AddedRun, PatchReader
from stacksafe.scan.sources import git, git_command

__all__ = ["DIFF_OPTIONS", "GitHistory"]

DIFF_OPTIONS = (
    "-p",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--unified=0",
    "--inter-hunk-context=0",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--no-relative",
)
# Configuration that would change the lines of a hunk or their paths (options above cover
# the rest); core.quotepath=off and core.fsmonitor=false come with every git command.
_SETTINGS = ("-c", "diff.suppressBlankEmpty=false", "-c", "log.showRoot=true")
_READ = 1 << 20


class GitHistory:
    """The runs of lines added by every commit reachable from HEAD (after ``since`` when
    given), newest first, then by the staged changes (commit None), as an iterator.

    A merge commit's lines are what it changed beyond merging its parents
    (``--diff-merges=remerge``: conflict resolutions and evil merges); renames count only
    changed lines; binary changes are not read. After iterating, ``commits`` lists the commits
    whose patch changed a file, in that order (None last: the staged changes).

    Commit lines are told apart by a separator holding 128 random bits drawn for this scan;
    a patch's hunks are read by their line counts, so no file's text is taken for a header.
    """

    def __init__(self, repo: Path, since: str | None = None) -> None:
        if git(repo, "rev-parse", "--is-inside-work-tree").returncode != 0:
            raise InvalidInput(f"{repo} is not inside a git work tree (needed by --git)")
        self.repo = repo
        self.commits: list[str | None] = []
        has_head = git(repo, "rev-parse", "--verify", "--quiet", "HEAD").returncode == 0
        if since is not None and not has_head:
            raise InvalidInput("--since needs a repository with commits")
        self._revisions: str | None = None
        if has_head:
            self._revisions = "HEAD" if since is None else f"{_revision(repo, since)}..HEAD"

    def __iter__(self) -> Iterator[AddedRun]:
        if self._revisions is not None:
            separator = "\x00stacksafe-" + secrets.token_hex(16) + "\x00"
            log_format = "--format=" + separator.replace("\x00", "%x00") + "%H"
            reader = PatchReader(separator.encode())
            arguments = ("log", log_format, "--diff-merges=remerge", *DIFF_OPTIONS)
            yield from self._read("git log", (*arguments, self._revisions), reader)
        yield from self._read("git diff --cached", ("diff", "--cached", *DIFF_OPTIONS), None)

    def _read(
        self, name: str, arguments: tuple[str, ...], reader: PatchReader | None
    ) -> Iterator[AddedRun]:
        reader = PatchReader(commit=None) if reader is None else reader
        # git's messages go to a file: a pipe left unread could fill and stall git.
        with tempfile.TemporaryFile() as errors:
            command, env = git_command(self.repo, *_SETTINGS, *arguments)
            with subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=errors, env=env, bufsize=0
            ) as process:
                output = process.stdout
                if output is None:  # pragma: no cover - stdout=PIPE gives one
                    raise RuntimeError("git's output is not a pipe")
                try:
                    _larger_pipe(output)
                    while chunk := output.read(_READ):
                        yield from reader.feed(chunk)
                    yield from reader.close()
                finally:
                    # Left early (a consumer's error): git is stopped, not left writing.
                    if process.poll() is None:
                        process.kill()
            self.commits.extend(reader.commits)
            if process.returncode != 0:
                errors.seek(0)
                message = errors.read().decode("utf-8", "replace").strip()
                raise InvalidInput(f"{name} failed: {message}")


def _larger_pipe(pipe: IO[bytes]) -> None:
    """A pipe of ``_READ`` bytes (Linux's default is 64 KiB): git and the reader wake each
    other a sixteenth as often. Elsewhere, or over the system's limit, the pipe stays."""
    if sys.platform == "linux":
        import fcntl

        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, _READ)


def _revision(repo: Path, since: str) -> str:
    done = git(repo, "rev-parse", "--verify", "--quiet", f"{since}^{{commit}}")
    if done.returncode != 0:
        raise InvalidInput(f"--since {since!r} is not a commit of the repository at {repo}")
    return done.stdout.decode().strip()
