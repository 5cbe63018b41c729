"""A scan: inputs through both detectors, findings sorted, with a summary of what was read.

Known values are matched in this process; the pattern rules run here too on small inputs and
in worker processes on large ones (``patterns.PatternScanner``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from stacksafe.scan.blocks import Block, LineBlocks
from stacksafe.scan.findings import Finding
from stacksafe.scan.history import GitHistory
from stacksafe.scan.known import CHUNK_SIZE, KnownValues
from stacksafe.scan.patterns import PatternScanner, default_workers
from stacksafe.scan.sources import FileEntry, excluded, files_under, is_binary

__all__ = ["Detectors", "ScanResult", "scan_files", "scan_git", "scan_paths", "scan_stream"]

# Lines of a stream handed to the pattern detector at a time, and the longest line kept whole
# (the lines repeated at the start of the next block: ``_overlap``).
_STREAM_BLOCK_LINES = 20_000
_LONGEST_LINE = 1 << 20
# Bytes of a cut line repeated at the start of its next piece: longer than any token.
_CARRY = 16 << 10


def _overlap() -> int:
    """Lines repeated at the start of a stream's next block: a rule's match spans at most this
    many more than its first line. Asked of the catalogue only when a stream is scanned."""
    from stacksafe.scan.rules.catalogue import RULES

    return max(rule.lines for rule in RULES) - 1


@dataclass(frozen=True, slots=True)
class Detectors:
    """Which detectors run: ``known`` (None: no known values), ``patterns``; ``key`` keys the
    fingerprints; ``include_binary`` also looks for known values in binary files; ``disabled``
    names pattern rules not to run."""

    key: bytes
    known: KnownValues | None = None
    patterns: bool = True
    include_binary: bool = False
    workers: int | None = None
    disabled: tuple[str, ...] = ()


@dataclass(slots=True)
class ScanResult:
    """The findings, sorted, and what was read."""

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    commits: int = 0
    bytes: int = 0
    binary_skipped: list[str] = field(default_factory=list)

    def summary(self, reported: Sequence[Finding] | None = None) -> dict[str, object]:
        """What was read, and counts of ``reported`` (default: every finding; the CLI passes
        those a baseline did not accept, so the counts agree with the findings shown)."""
        shown = self.findings if reported is None else reported
        return {
            "findings": len(shown),
            "accepted_by_baseline": len(self.findings) - len(shown),
            "known_values": sum(1 for f in shown if f.is_known_value),
            "patterns": sum(1 for f in shown if not f.is_known_value),
            "files": self.files,
            "commits": self.commits,
            "bytes": self.bytes,
            "binary_files_skipped": len(self.binary_skipped),
        }


def _known_first(found: list[Finding]) -> list[Finding]:
    """Drops a pattern finding where a managed value was found at the same place: the value
    is reported once, as the managed value it is (the finding that names its key)."""
    known = {(f.commit, f.path, f.line, f.column) for f in found if f.is_known_value}
    return [
        f for f in found if f.is_known_value or (f.commit, f.path, f.line, f.column) not in known
    ]


def _sorted(result: ScanResult, found: list[Finding]) -> ScanResult:
    result.findings = sorted(_known_first(found), key=Finding.sort_key)
    return result


def _scan_file(
    entry: FileEntry, detectors: Detectors, patterns: PatternScanner, result: ScanResult
) -> list[Finding]:
    found: list[Finding] = []
    with open(entry.real, "rb") as stream:
        head = stream.read(CHUNK_SIZE)
        binary = is_binary(head)
        if binary:
            result.binary_skipped.append(entry.display)
        if detectors.patterns and not binary:
            size = entry.real.stat().st_size
            patterns.add_file(str(entry.real), entry.display, size)
        result.files += 1
        result.bytes += len(head)
        if detectors.known is None or (binary and not detectors.include_binary):
            return found
        matcher = detectors.known.matcher(entry.display, detectors.key)
        chunk = head
        while chunk:
            found.extend(matcher.feed(chunk))
            chunk = stream.read(CHUNK_SIZE)
            result.bytes += len(chunk)
    return found


def scan_files(entries: Sequence[FileEntry], detectors: Detectors) -> ScanResult:
    """Scan files; binary ones only for known values, and only with ``include_binary``."""
    result = ScanResult()
    found: list[Finding] = []
    with PatternScanner(detectors.key, detectors.workers, detectors.disabled) as patterns:
        for entry in entries:
            found.extend(_scan_file(entry, detectors, patterns, result))
        found.extend(patterns.results())
    return _sorted(result, found)


def scan_paths(
    paths: Sequence[str],
    detectors: Detectors,
    *,
    gitignore: bool = True,
    exclude: Sequence[str] = (),
) -> ScanResult:
    """Scan the files named by ``paths`` (see ``sources.files_under``)."""
    return scan_files(files_under(paths, gitignore=gitignore, exclude=exclude), detectors)


def scan_git(
    repo: Path, detectors: Detectors, since: str | None = None, exclude: Sequence[str] = ()
) -> ScanResult:
    """Scan the lines added by every commit (since ``since``) and by the staged changes, as
    git writes them (``history.GitHistory``); paths that ``exclude`` matches are left out."""
    result = ScanResult()
    found: list[Finding] = []
    history = GitHistory(repo, since)
    known = detectors.known
    # git's diffing keeps its processes' cores busy all along: the pool has the others, and
    # on two cores there are none: the rules run here, as git writes (bench/README.md).
    workers = detectors.workers or default_workers(busy=history.processes)
    scanner = PatternScanner(detectors.key, workers, detectors.disabled, eager=True)
    with scanner as patterns:
        for run in history:
            result.bytes += len(run.data)
            if excluded(run.path, exclude):
                continue
            if detectors.patterns:
                patterns.add_text(run.path, run.data, run.first_line, run.commit)
            if known is not None:
                found.extend(
                    known.scan_bytes(
                        run.data, run.path, detectors.key, commit=run.commit,
                        first_line=run.first_line,
                    )
                )  # fmt: skip
        found.extend(patterns.results())
    result.commits = sum(commit is not None for commit in history.commits)
    # Staged changes first (they are about to be committed), then history newest first.
    order = {commit: i for i, commit in enumerate(history.commits, start=1)}
    order[None] = 0
    result.findings = sorted(_known_first(found), key=lambda f: (order[f.commit], *f.sort_key()))
    return result


def scan_stream(stream: IO[bytes], detectors: Detectors, display: str = "stdin") -> ScanResult:
    """Scan a byte stream (stdin) as it arrives, in chunks: nothing is written anywhere."""
    result = ScanResult(files=1)
    found: list[Finding] = []
    matcher = None if detectors.known is None else detectors.known.matcher(display, detectors.key)
    blocks = LineBlocks(_STREAM_BLOCK_LINES, _overlap(), _LONGEST_LINE, _CARRY)
    with PatternScanner(detectors.key, detectors.workers, detectors.disabled) as patterns:

        def hand_on(ready: list[Block]) -> None:
            for block in ready:
                patterns.add_text(
                    display, block.data, block.first_line, None, block.first_column, block.cut
                )

        while chunk := stream.read(CHUNK_SIZE):
            result.bytes += len(chunk)
            if matcher is not None:
                found.extend(matcher.feed(chunk))
            if detectors.patterns:
                hand_on(blocks.feed(chunk))
        if detectors.patterns:
            hand_on(blocks.close())
        # Blocks overlap: a finding on a repeated line comes twice, identical.
        found.extend(dict.fromkeys(patterns.results()))
    return _sorted(result, found)
