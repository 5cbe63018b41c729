"""The lines a git patch adds: a narrow reader of the ``-p`` output git writes with the options
``history`` fixes, fed as it comes.

Only what a scan needs is read: each file's new path (its ``+++`` header), each hunk's first new
line number and its line counts, and the added lines. A hunk is read by its counts, as git wrote
it, so an added line that looks like a header (``+++ x``, ``@@``, a commit separator) stays text.
Binary changes, renames without edits and deletions add no lines, so nothing is read of them.
This replaced unidiff on this path: building its objects for every line was most of a history
scan's own work (docs/dependencies.md, bench/README.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import repeat

from stacksafe.errors import InvalidInput

__all__ = ["AddedRun", "PatchReader", "added_runs", "unquoted"]

# A hunk header: ``@@ -old[,count] +new[,count] @@`` (a count left out is 1).
_HUNK = re.compile(rb"@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True, slots=True)
class AddedRun:
    """Consecutive lines a commit (None: the staged changes) added to ``path`` from
    ``first_line``, each with its newline."""

    commit: str | None
    path: str
    first_line: int
    data: bytes


class PatchReader:
    """Reads git's patch output in pieces of any size: ``feed`` each, then ``close``; each
    returns the runs of added lines completed so far.

    ``separator`` starts the line that names a commit (followed by its id); without one the
    whole output is one patch of ``commit``. ``commits`` lists, in order, those whose patch
    changed a file (``diff`` header).
    """

    def __init__(self, separator: bytes | None = None, commit: str | None = None) -> None:
        self.commits: list[str | None] = []
        self._separator = separator
        self._commit = commit
        self._tail: list[bytes] = []  # pieces of a line not ended yet (kept apart: a line of
        # hundreds of megabytes is joined once, not copied again with each piece)
        self._path: str | None = None  # the file the current hunks add to (None: deleted)
        self._headed = False  # the current file's "+++" header was read: hunks may follow
        self._old = 0  # lines of the current hunk still to come: old and new
        self._new = 0
        self._number = 0  # the new line number of the next added or context line
        self._run: list[bytes] = []  # the added lines of the current run, "+" included
        self._first = 0
        self._slow = False  # the current hunk is read a line at a time

    def feed(self, data: bytes) -> list[AddedRun]:
        """The runs completed by ``data`` (a line cut at its end waits for the next piece)."""
        if b"\n" not in data:
            self._tail.append(data)
            return []
        lines = b"".join([*self._tail, data]).split(b"\n")
        self._tail = [lines.pop()]
        return self._read(lines)

    def close(self) -> list[AddedRun]:
        """The runs still open when the output ends."""
        tail = b"".join(self._tail)
        lines = [tail] if tail else []
        self._tail = []
        runs = self._read(lines)
        if self._old or self._new:
            raise InvalidInput("git's patch output ended inside a hunk")
        return runs

    def _read(self, lines: list[bytes]) -> list[AddedRun]:
        runs: list[AddedRun] = []
        at, count = 0, len(lines)
        while at < count:
            if self._old or self._new:
                at = self._hunk(lines, at, runs)
                continue
            line = lines[at]
            at += 1
            if line.startswith(b"@@ -"):
                hunk = _HUNK.match(line)
                if hunk is None or not self._headed:
                    raise InvalidInput("git's patch output has a hunk git did not write")
                old_count, start, new_count = hunk.groups()
                self._old = 1 if old_count is None else int(old_count)
                self._new = 1 if new_count is None else int(new_count)
                self._number = int(start)
                self._slow = False
            elif line.startswith(b"+++ "):
                self._path, self._headed = _new_path(line), True
            elif line.startswith(b"diff "):
                self._path, self._headed = None, False
                if not self.commits or self.commits[-1] != self._commit:
                    self.commits.append(self._commit)
            elif self._separator is not None and line.startswith(self._separator):
                self._commit = line[len(self._separator) :].decode("ascii")
                self._path, self._headed = None, False
        return runs

    def _hunk(self, lines: list[bytes], at: int, runs: list[AddedRun]) -> int:
        """Reads lines of the current hunk from ``at``; where the next unread line is."""
        # git writes a hunk's removed lines, then its added ones (no context lines: -U0): each
        # block is taken whole when its lines all start as they should; otherwise the rest of
        # the hunk is read a line at a time (a block tried again at each line could cost the
        # square of the hunk's length).
        line = lines[at]
        if not self._slow and self._old and line.startswith(b"-"):
            block = lines[at : at + self._old]
            if all(map(bytes.startswith, block, repeat(b"-"))):
                self._old -= len(block)
                return self._ended(at + len(block), runs)
            self._slow = True
        elif not self._slow and self._new and not self._old and line.startswith(b"+"):
            block = lines[at : at + self._new]
            if all(map(bytes.startswith, block, repeat(b"+"))):
                if not self._run:
                    self._first = self._number
                self._run.extend(block)
                self._number += len(block)
                self._new -= len(block)
                return self._ended(at + len(block), runs)
            self._slow = True
        kind = line[:1]
        if kind == b"+":
            if not self._run:
                self._first = self._number
            self._run.append(line)
            self._number += 1
            self._new -= 1
        elif kind == b"-":
            self._old -= 1
        elif kind == b" " or not line:  # context (an empty one: diff.suppressBlankEmpty)
            self._end_run(runs)
            self._number += 1
            self._old -= 1
            self._new -= 1
        elif kind != b"\\":  # "\ No newline at end of file" counts as no line
            raise InvalidInput("git's patch output has a line no hunk holds")
        if self._old < 0 or self._new < 0:
            raise InvalidInput("git's patch output has a hunk longer than its header")
        return self._ended(at + 1, runs)

    def _ended(self, at: int, runs: list[AddedRun]) -> int:
        if not (self._old or self._new):
            self._end_run(runs)
        return at

    def _end_run(self, runs: list[AddedRun]) -> None:
        if not self._run or self._path is None:
            return
        # Each line starts with "+" and holds no newline: one join, then the "+"s dropped.
        joined = b"\n".join(self._run)
        data = joined[1:].replace(b"\n+", b"\n") + b"\n"
        runs.append(AddedRun(self._commit, self._path, self._first, data))
        self._run.clear()


def _new_path(line: bytes) -> str | None:
    """The file a ``+++ b/<path>`` header names (None: ``/dev/null``, a deletion). A name with a
    space ends with a tab; one with a tab, a quote or a control byte is quoted."""
    name = line[4:].split(b"\t", 1)[0].decode("utf-8", "surrogateescape")
    if name == "/dev/null":
        return None
    name = unquoted(name)
    return name[2:] if name.startswith("b/") else name


def added_runs(patch: bytes, commit: str | None = None) -> list[AddedRun]:
    """The runs of added lines of one whole patch (``git diff`` output)."""
    reader = PatchReader(commit=commit)
    return reader.feed(patch) + reader.close()


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
