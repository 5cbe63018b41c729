"""A repository's history as git writes it: the lines every commit and the staged changes
added, read from ``git log -p`` while git runs.

One ``git log -p`` over the history (not one per commit: a process each), then ``git diff
--cached``, each read as its output comes (``gitstreams``), so the scan overlaps git's diffing,
which is most of a history scan's CPU. With more than two cores, the commits (``git rev-list``,
newest first) are cut into slices, a ``git log -p`` each, one running per core besides the
scanning process's (at most 4), so git's work is spread over them. git's options are fixed so
that its output is the format ``patches`` reads whatever the repository's configuration says:
no colour, no external diff or textconv, ``a/``/``b/`` prefixes, no context lines, no
blank-line suppression; paths quoted only where git must.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from stacksafe.errors import InvalidInput
from stacksafe.scan.gitstreams import GitCommand, outputs
from stacksafe.scan.patches import AddedRun, PatchReader
from stacksafe.scan.sources import git

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
# git processes for a history: one per core but the scanning process's (it reads and scans
# what they write: about half of git's CPU), at most 4; each given at least this many commits.
_GITS = max(1, min((os.cpu_count() or 1) - 1, 4))
_LEAST_COMMITS = 100
_SLICES_PER_GIT = 4


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
        self._ids: list[bytes] = []
        if has_head:
            self._revisions = "HEAD" if since is None else f"{_revision(repo, since)}..HEAD"
        if self._revisions is not None and _GITS > 1:  # one git log walks the history itself
            listed = git(repo, "rev-list", self._revisions)  # git log's order: newest first
            if listed.returncode != 0:
                message = listed.stderr.decode("utf-8", "replace").strip()
                raise InvalidInput(f"git rev-list failed: {message}")
            self._ids = listed.stdout.split()
        # git log processes at once, each diffing a slice of the commits: git's CPU is most of
        # a history scan's, and one process would leave the other cores idle (bench/README.md).
        # A few slices per process, started as others end: slices differ in cost.
        self.processes = max(1, min(_GITS, len(self._ids) // _LEAST_COMMITS))

    def __iter__(self) -> Iterator[AddedRun]:
        separator = "\x00stacksafe-" + secrets.token_hex(16) + "\x00"
        log_format = "--format=" + separator.replace("\x00", "%x00") + "%H"
        log = (*_SETTINGS, "log", log_format, "--diff-merges=remerge", *DIFF_OPTIONS)
        commands: list[GitCommand] = []
        if self.processes > 1:
            for part in _slices(self._ids, self.processes * _SLICES_PER_GIT):
                ids = b"\n".join(part) + b"\n"
                commands.append(GitCommand("git log", (*log, "--stdin", "--no-walk=unsorted"), ids))
        elif self._revisions is not None:
            commands.append(GitCommand("git log", (*log, self._revisions)))
        readers = [PatchReader(separator.encode()) for _ in commands]
        staged = (*_SETTINGS, "diff", "--cached", *DIFF_OPTIONS)
        commands.append(GitCommand("git diff --cached", staged))
        readers.append(PatchReader(commit=None))
        for index, piece in outputs(self.repo, commands, self.processes):
            reader = readers[index]
            yield from (reader.feed(piece) if piece else reader.close())
        self.commits = [commit for reader in readers for commit in reader.commits]


def _slices(ids: list[bytes], count: int) -> list[list[bytes]]:
    """``ids`` in ``count`` consecutive slices as even as can be, none empty (git log given no
    commit would read HEAD's whole history)."""
    count = min(count, len(ids))
    return [ids[len(ids) * n // count : len(ids) * (n + 1) // count] for n in range(count)]


def _revision(repo: Path, since: str) -> str:
    done = git(repo, "rev-parse", "--verify", "--quiet", f"{since}^{{commit}}")
    if done.returncode != 0:
        raise InvalidInput(f"--since {since!r} is not a commit of the repository at {repo}")
    return done.stdout.decode().strip()
