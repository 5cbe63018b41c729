"""Scoring a secret scanner against the labeled corpus: cases, their files, and P/R/F1.

A case (one line of ``tests/scan/corpus/*.jsonl``) is one file with the line spans that hold a
secret; a case with no span is a negative. Every case is written to
``<root>/<source>/<safe id>/<path>``, so a finding's path names its case. A labeled span is
found (a true positive) when any finding of its case touches a line inside it, else it is a
false negative; a finding that touches no span is a false positive, counted once per (case,
line). Pure functions, no scanner here: bench/scan_tools.py runs the scanners.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

__all__ = [
    "PEER_SOURCES",
    "Case",
    "Counts",
    "Hit",
    "Score",
    "attribute",
    "case_prefix",
    "load_corpus",
    "materialize",
    "score",
]

# The four fixture sources the "F1 averaged" is over; `own` is reported, not averaged.
PEER_SOURCES = ("gitleaks", "detect_secrets", "secretlint", "credsweeper")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class Case:
    """One labeled file: ``secrets`` are 1-based inclusive line spans (empty: a negative)."""

    id: str
    source: str
    rule: str
    path: str
    text: str
    secrets: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Hit:
    """One finding of a scanner, attributed to a case: lines ``first``..``last``, a rule id."""

    case: str
    first: int
    last: int
    rule: str


@dataclass(frozen=True, slots=True)
class Counts:
    tp: int = 0
    fn: int = 0
    fp: int = 0

    @property
    def precision(self) -> float:
        # Nothing reported claims nothing false: 1.0 (the F1 is still 0 if anything was missed).
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fn + other.fn, self.fp + other.fp)

    def to_json(self) -> dict[str, float | int]:
        return {
            "tp": self.tp,
            "fn": self.fn,
            "fp": self.fp,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


@dataclass(slots=True)
class Score:
    """A scanner's figures: per source, pooled, the peer-source average, per rule, misses."""

    sources: dict[str, Counts]
    pooled: Counts
    averaged_f1: float
    rules: dict[str, Counts] = field(default_factory=dict)
    missed: dict[str, list[str]] = field(default_factory=dict)


def _case(raw: object, where: str) -> Case:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: not a JSON object")
    try:
        spans = tuple((int(a), int(b)) for a, b in raw["secrets"])
        case = Case(
            str(raw["id"]), str(raw["source"]), str(raw["rule"]), str(raw["path"]),
            str(raw["text"]), spans,
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: bad case ({type(exc).__name__}: {exc})") from None
    if any(a < 1 or b < a for a, b in spans):
        raise ValueError(f"{where}: case {case.id}: a span is not 1 <= start <= end")
    return case


def load_corpus(files: Iterable[Path]) -> list[Case]:
    """Every case of the JSONL files, in file and line order; ids must be unique."""
    cases: list[Case] = []
    seen: set[str] = set()
    for file in files:
        for number, line in enumerate(file.read_text("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            case = _case(json.loads(line), f"{file.name}:{number}")
            if case.id in seen:
                raise ValueError(f"{file.name}:{number}: duplicate case id {case.id!r}")
            seen.add(case.id)
            cases.append(case)
    return cases


def case_prefix(case: Case) -> str:
    """``<source>/<safe id>``: the id made safe as one path segment, with a hash of the id
    so two ids that read alike once made safe stay apart."""
    digest = hashlib.sha256(case.id.encode()).hexdigest()[:8]
    return f"{_UNSAFE.sub('_', case.source)}/{_UNSAFE.sub('_', case.id)[:60]}-{digest}"


def _relative(path: str) -> PurePosixPath:
    parts = [p for p in PurePosixPath(path.replace("\\", "/")).parts if p not in ("/", ".", "..")]
    return PurePosixPath(*parts) if parts else PurePosixPath("file")


def materialize(cases: Sequence[Case], root: Path) -> dict[str, Case]:
    """Write every case below ``root``; the map from case prefix to case."""
    by_prefix: dict[str, Case] = {}
    for case in cases:
        prefix = case_prefix(case)
        target = root / prefix / _relative(case.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(case.text.encode("utf-8", "surrogateescape"))
        by_prefix[prefix] = case
    return by_prefix


def attribute(
    path: str, first: int, last: int, rule: str, by_prefix: Mapping[str, Case]
) -> Hit | None:
    """The hit of a finding at ``path`` (relative to the root, ``./`` allowed), or None when
    the path is under no case."""
    parts = _relative(path).parts
    case = by_prefix.get("/".join(parts[:2])) if len(parts) > 2 else None
    if case is None:
        return None
    return Hit(case.id, first, max(first, last), rule)


def _overlaps(hit: Hit, span: tuple[int, int]) -> bool:
    return hit.first <= span[1] and span[0] <= hit.last


def score(cases: Sequence[Case], hits: Iterable[Hit]) -> Score:
    """Count spans found and missed and false findings, per source and pooled."""
    by_case: dict[str, list[Hit]] = defaultdict(list)
    for hit in hits:
        by_case[hit.case].append(hit)
    sources: dict[str, Counts] = defaultdict(Counts)
    rules: dict[str, Counts] = defaultdict(Counts)
    missed: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        found = by_case.get(case.id, [])
        tp = sum(1 for span in case.secrets if any(_overlaps(h, span) for h in found))
        false_lines = {h.first for h in found if not any(_overlaps(h, s) for s in case.secrets)}
        sources[case.source] += Counts(tp, len(case.secrets) - tp, len(false_lines))
        if tp < len(case.secrets):
            missed[case.source].append(case.id)
        # Per rule: each distinct (line, rule) finding once, true if it touches a span.
        for first, last, rule in {(h.first, h.last, h.rule) for h in found}:
            true = any(_overlaps(Hit(case.id, first, last, rule), s) for s in case.secrets)
            rules[rule] += Counts(tp=int(true), fp=int(not true))
    pooled = sum(sources.values(), Counts())
    peers = [sources[s].f1 for s in PEER_SOURCES if s in sources]
    averaged = statistics.fmean(peers) if peers else 0.0
    return Score(dict(sources), pooled, averaged, dict(rules), dict(missed))
