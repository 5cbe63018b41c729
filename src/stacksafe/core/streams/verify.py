"""``stacksafe audit verify --stream FILE...``: what a receiver proves of the JSON lines a sink
gave it, with the installation's public key only.

Rotated files are given together in any order. Identical repeats are what at-least-once
delivery leaves (a batch sent again after a crash or a timeout) and are de-duplicated; anything
else is a problem: a line whose signature fails (edited), a line that is not a stream line, one
event given twice with different content, an event that comes before an earlier one in the same
file (reordered), a missing sequence between the first and the newest (a gap), and an event
whose ``prev_hash`` is not its predecessor's ``hash`` (the chain broken). The newest sequence
and hash seen are the anchor to compare with the server's log (a database rolled back behind
its stream).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stacksafe.core.audit_chain import GENESIS
from stacksafe.core.streams.lines import parse_line
from stacksafe.crypto.stream_signature import StreamVerifier
from stacksafe.errors import InvalidInput

__all__ = ["MAX_LISTED", "StreamReport", "verifier_from_pem", "verify_stream"]

MAX_LISTED = 50  # problems listed one by one; the rest are counted


@dataclass
class StreamReport:
    events: int = 0  # distinct sequences seen
    repeats: int = 0  # identical lines de-duplicated
    first: int | None = None
    newest: int | None = None
    newest_hash: str | None = None
    problems: list[str] = field(default_factory=list)
    unlisted: int = 0  # problems beyond MAX_LISTED

    @property
    def clean(self) -> bool:
        return not self.problems and self.events > 0

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problems.append(text)
        else:
            self.unlisted += 1


@dataclass(frozen=True, slots=True)
class _Seen:
    digest: bytes  # of the line's bytes: a repeat is identical or a problem
    prev_hash: bytes
    hash: bytes


def verifier_from_pem(pem: bytes, source: str) -> StreamVerifier:
    """The verifier of a public key a receiver was given (``audit sinks public-key``)."""
    try:
        return StreamVerifier.from_pem(pem)
    except ValueError as exc:
        raise InvalidInput(f"--public-key {source}: {exc}") from None


def verify_stream(files: Sequence[Path], verifier: StreamVerifier) -> StreamReport:
    report = StreamReport()
    seen: dict[int, _Seen] = {}
    for path in files:
        newest_here = 0
        for number, raw in _lines(path):
            where = f"{path} line {number}"
            try:
                line = parse_line(raw)
            except ValueError as exc:
                report.problem(f"{where} is not an audit stream line ({exc})")
                continue
            if not line.signed_by(verifier):
                report.problem(f"{where}: event {line.seq} was altered (its signature fails)")
                continue
            digest = hashlib.sha256(raw).digest()
            before = seen.get(line.seq)
            if before is not None:
                if before.digest == digest:
                    report.repeats += 1
                else:
                    report.problem(
                        f"{where}: event {line.seq} appears twice with different content"
                    )
                continue
            if line.seq < newest_here:
                report.problem(
                    f"{where}: event {line.seq} comes after event {newest_here} (reordered)"
                )
            newest_here = max(newest_here, line.seq)
            seen[line.seq] = _Seen(digest, line.prev_hash, line.hash)
    _walk(seen, report)
    return report


def _walk(seen: dict[int, _Seen], report: StreamReport) -> None:
    """Gaps and links, in sequence order."""
    if not seen:
        report.problem("no audit stream line was found")
        return
    order = sorted(seen)
    report.events, report.first, report.newest = len(order), order[0], order[-1]
    report.newest_hash = seen[order[-1]].hash.hex()
    if order[0] == 1 and seen[1].prev_hash != GENESIS:
        report.problem("event 1 does not start the chain")
    previous: int | None = None
    for seq in order:
        if previous is not None and seq != previous + 1:
            missing = (
                f"event {previous + 1}"
                if seq == previous + 2
                else (f"events {previous + 1} to {seq - 1}")
            )
            report.problem(f"{missing} missing (a gap)")
        elif previous is not None and seen[seq].prev_hash != seen[previous].hash:
            report.problem(f"event {seq} does not follow event {previous} (the chain is broken)")
        previous = seq


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                stripped = raw.rstrip(b"\r\n")
                if stripped:
                    yield number, stripped
    except OSError as exc:
        raise InvalidInput(f"--stream {path}: {exc.strerror or type(exc).__name__}") from None
