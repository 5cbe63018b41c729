"""The scanning quality benchmark's scoring (bench/scan_scoring.py): spans found and missed,
false findings counted once per line, negatives, the per-source average, and the corpus files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scan_scoring import (
    Case,
    Counts,
    Hit,
    attribute,
    case_prefix,
    load_corpus,
    materialize,
    score,
)


def case(id: str, source: str, secrets: tuple[tuple[int, int], ...], path: str = "a.py") -> Case:
    return Case(id, source, "rule", path, "one\ntwo\nthree\nfour\nfive\n", secrets)


def test_a_span_is_found_by_any_line_inside_it_and_missed_otherwise() -> None:
    cases = [case("key", "gitleaks", ((2, 4),)), case("token", "gitleaks", ((1, 1),))]
    result = score(cases, [Hit("key", 4, 4, "private-key"), Hit("token", 2, 2, "token")])
    # key: found on its last line; token: missed, and the finding on line 2 is false.
    assert result.sources["gitleaks"] == Counts(tp=1, fn=1, fp=1)
    assert result.missed == {"gitleaks": ["token"]}
    assert result.rules == {"private-key": Counts(tp=1), "token": Counts(fp=1)}


def test_a_finding_spanning_lines_counts_where_it_overlaps() -> None:
    cases = [case("pem", "own", ((3, 5),))]
    result = score(cases, [Hit("pem", 1, 3, "private-key")])
    assert result.sources["own"] == Counts(tp=1)


def test_duplicate_findings_count_once() -> None:
    cases = [case("dup", "detect_secrets", ((1, 1),))]
    hits = [Hit("dup", 1, 1, "a"), Hit("dup", 1, 1, "b"), Hit("dup", 3, 3, "a")]
    hits += [Hit("dup", 3, 3, "b"), Hit("dup", 3, 3, "a")]
    result = score(cases, hits)
    # One span found once, one false line however many rules fired on it.
    assert result.sources["detect_secrets"] == Counts(tp=1, fp=1)
    assert result.rules == {"a": Counts(tp=1, fp=1), "b": Counts(tp=1, fp=1)}


def test_a_negative_case_counts_only_its_false_findings() -> None:
    cases = [case("clean", "secretlint", ()), case("noisy", "secretlint", ())]
    result = score(cases, [Hit("noisy", 2, 2, "entropy"), Hit("noisy", 5, 5, "entropy")])
    counts = result.sources["secretlint"]
    assert counts == Counts(fp=2)
    assert (counts.precision, counts.recall, counts.f1) == (0.0, 1.0, 0.0)
    assert result.missed == {}


def test_pooled_and_the_average_over_the_four_peer_sources() -> None:
    cases = [
        case("g", "gitleaks", ((1, 1),)),
        case("d", "detect_secrets", ((1, 1),)),
        case("s", "secretlint", ((1, 1),)),
        case("c1", "credsweeper", ((1, 1),)),
        case("c2", "credsweeper", ((1, 1),)),
        case("o", "own", ((1, 1),)),
    ]
    hits = [Hit(h, 1, 1, "r") for h in ("g", "d", "c1", "o")]
    result = score(cases, hits)
    assert result.pooled == Counts(tp=4, fn=2)
    # F1 per peer source: 1, 1, 0 and 2/3 (P 1, R 1/2); `own` (found) is not averaged.
    assert result.averaged_f1 == pytest.approx((1 + 1 + 0 + 2 / 3) / 4)
    assert result.pooled.f1 == pytest.approx(2 * 1 * (4 / 6) / (1 + 4 / 6))


def test_counts_with_nothing_found_or_nothing_to_find() -> None:
    assert Counts().f1 == 1.0  # nothing to find, nothing claimed
    assert Counts(fn=3).precision == 1.0
    assert Counts(fn=3).f1 == 0.0


def test_cases_are_written_under_their_prefix_and_findings_map_back(tmp_path: Path) -> None:
    tricky = case("gitleaks/aws#1", "gitleaks", ((1, 1),), path="../../etc/config.py")
    alike = case("gitleaks aws#1", "gitleaks", ((1, 1),), path="/abs/x.env")
    by_prefix = materialize([tricky, alike], tmp_path)
    assert case_prefix(tricky) != case_prefix(alike)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.*"))
    assert written == sorted(
        [f"{case_prefix(tricky)}/etc/config.py", f"{case_prefix(alike)}/abs/x.env"]
    )
    found = attribute(f"./{case_prefix(tricky)}/etc/config.py", 7, 2, "r", by_prefix)
    assert found == Hit(tricky.id, 7, 7, "r")
    assert attribute("elsewhere/file.py", 1, 1, "r", by_prefix) is None


def test_load_corpus_refuses_duplicates_and_bad_spans(tmp_path: Path) -> None:
    good = {"id": "x", "source": "own", "rule": "r", "path": "p", "text": "t\n", "secrets": []}
    file = tmp_path / "own.jsonl"
    file.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "id": "y"}) + "\n")
    assert [c.id for c in load_corpus([file])] == ["x", "y"]
    file.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(ValueError, match="duplicate case id 'x'"):
        load_corpus([file])
    file.write_text(json.dumps({**good, "secrets": [[3, 2]]}) + "\n")
    with pytest.raises(ValueError, match="1 <= start <= end"):
        load_corpus([file])
