"""The labeled evaluation corpus (tests/scan/corpus/, written by bench/scan_corpus.py) keeps the
schema the scan-quality evaluator reads: every case parses, ids are unique, spans lie within the
text, and each source has positive and negative cases."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).parent / "corpus"
SOURCES = ("gitleaks", "detect_secrets", "secretlint", "credsweeper", "own")
KEYS = {"id", "source", "rule", "path", "text", "secrets"}
MAX_BYTES = 3 * 1024 * 1024


def _load(source: str) -> list[dict[str, Any]]:
    raw = (CORPUS / f"{source}.jsonl").read_text(encoding="utf-8")
    # one case per line whichever way a reader splits lines (str.splitlines knows more breaks)
    assert raw.endswith("\n")
    assert raw.splitlines() == raw[:-1].split("\n")
    return [json.loads(line) for line in raw.splitlines()]


def _line_count(text: str) -> int:
    # the corpus' lines: split on "\n" only; a final newline ends the last line
    parts = text.split("\n")
    return len(parts) - 1 if len(parts) > 1 and parts[-1] == "" else len(parts)


def _natural(case_id: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", case_id)]


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[dict[str, Any]]]:
    return {source: _load(source) for source in SOURCES}


@pytest.mark.parametrize("source", SOURCES)
def test_every_case_has_the_schema(corpus: dict[str, list[dict[str, Any]]], source: str) -> None:
    for case in corpus[source]:
        assert set(case) == KEYS, case.get("id")
        assert case["source"] == source
        assert case["id"].startswith(f"{source}/")
        assert case["rule"] is None or isinstance(case["rule"], str)
        assert case["rule"] != ""
        assert isinstance(case["path"], str)
        assert case["path"]
        assert "/" not in case["path"]
        assert isinstance(case["text"], str)
        assert case["text"]


@pytest.mark.parametrize("source", SOURCES)
def test_spans_lie_within_the_text(corpus: dict[str, list[dict[str, Any]]], source: str) -> None:
    for case in corpus[source]:
        lines = _line_count(case["text"])
        for span in case["secrets"]:
            assert isinstance(span, list), case["id"]
            assert len(span) == 2, case["id"]
            start, end = span
            assert isinstance(start, int), case["id"]
            assert isinstance(end, int), case["id"]
            assert 1 <= start <= end <= lines, (case["id"], span, lines)
        assert case["secrets"] == sorted(case["secrets"]), case["id"]


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_has_positives_and_negatives(
    corpus: dict[str, list[dict[str, Any]]], source: str
) -> None:
    cases = corpus[source]
    positives = [c for c in cases if c["secrets"]]
    assert positives, f"{source}: no positive case"
    assert len(positives) < len(cases), f"{source}: no negative case"


def test_ids_are_unique_across_sources(corpus: dict[str, list[dict[str, Any]]]) -> None:
    ids = [case["id"] for cases in corpus.values() for case in cases]
    duplicates = {i for i in ids if ids.count(i) > 1} if len(ids) != len(set(ids)) else set()
    assert not duplicates


@pytest.mark.parametrize("source", SOURCES)
def test_files_are_sorted_and_small(corpus: dict[str, list[dict[str, Any]]], source: str) -> None:
    ids = [case["id"] for case in corpus[source]]
    assert ids == sorted(ids, key=_natural)
    assert (CORPUS / f"{source}.jsonl").stat().st_size < MAX_BYTES


def test_readme_names_every_source_and_its_commit() -> None:
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    for source in SOURCES:
        assert f"## {source}" in readme
    assert len(re.findall(r"commit `[0-9a-f]{40}`", readme)) == 4
