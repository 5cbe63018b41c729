"""Builds the labeled evaluation corpus of the pattern scanner (issue 22) into tests/scan/corpus/.

Reads the four peer mirrors (gitleaks, detect-secrets, secretlint, CredSweeper: git directories
without a work tree, read with ``git show``) and writes one JSON-lines file per source plus
``own.jsonl`` (our own cases, from the table in ``scan_corpus_own.py``) and the corpus README.
Re-runnable: the same mirrors give the same files byte for byte (random parts are drawn from
generators seeded by each case's name).

Run: ``.venv/bin/python bench/scan_corpus.py`` (a few seconds). The mirrors exist only on the
machine that built the corpus: the committed JSONL files are the corpus; this documents how
they were made.

A case: ``{"id", "source", "rule", "path", "text", "secrets": [[start_line, end_line], ...]}``
(lines 1-based, split on "\\n" only; ``secrets`` empty for a negative case).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

import scan_corpus_own
import scan_corpus_peers
from scan_corpus_detect_secrets import detect_secrets_cases
from scan_corpus_gitleaks import RULES_DIR, GitleaksReader, Skips
from scan_corpus_golang import Unevaluable, functions, tokenize

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "scan" / "corpus"
MIRRORS = Path("/work/.mirror")
SOURCES = {
    "gitleaks": "gitleaks/gitleaks",
    "detect_secrets": "Yelp/detect-secrets",
    "secretlint": "secretlint/secretlint",
    "credsweeper": "Samsung/CredSweeper",
}

Case = dict[str, object]
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


class Mirror:
    """One peer's mirrored git directory, read at its HEAD commit."""

    def __init__(self, repo: str, base: Path) -> None:
        self.repo = repo
        self.git_dir = base / f"{repo.replace('/', '+')}" / "repo"
        self.commit = self._git("rev-parse", "HEAD").decode().strip()

    def _git(self, *args: str) -> bytes:
        return subprocess.run(
            ["git", "-C", str(self.git_dir), *args], check=True, capture_output=True
        ).stdout

    def files(self, under: str) -> list[str]:
        listing = self._git("ls-tree", "-r", "-z", "--name-only", self.commit, "--", under)
        return sorted(p for p in listing.decode().split("\0") if p)

    def blob(self, path: str) -> bytes:
        return self._git("show", f"{self.commit}:{path}")

    def text(self, path: str) -> str:
        return self.blob(path).decode("utf-8")

    def licence(self) -> str:
        head = self.text("LICENSE")[:400]
        return (
            "Apache-2.0"
            if "Apache License" in head
            else "MIT"
            if "MIT" in head or ("Permission is hereby granted" in head)
            else "see LICENSE"
        )


def gitleaks_cases(mirror: Mirror, skips: Skips) -> list[Case]:
    reader = GitleaksReader(mirror.text)
    cases: list[Case] = []
    counters: dict[str, int] = {}
    for path in mirror.files(RULES_DIR):
        if not path.endswith(".go") or path.endswith("_test.go"):
            continue
        tokens = tokenize(mirror.text(path))
        package = reader.package_env(path, tokens)
        for fn in functions(tokens):
            body_text = {t.text for t in fn.body}
            if not body_text & {"utils.Validate", "utils.ValidateWithPaths"}:
                continue
            try:
                rule_id, found = reader.rule_cases(fn, skips, package)
            except (Unevaluable, ValueError, IndexError):
                skips.add("gitleaks: rule function not readable")
                continue
            for case in found:
                kind = "tp" if case["secrets"] else "fp"
                key = f"{rule_id}/{kind}"
                counters[key] = counters.get(key, 0) + 1
                cases.append(
                    {"id": f"gitleaks/{key}-{counters[key]}", "source": "gitleaks", **case}
                )
    return cases


def _natural(case_id: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", case_id)]


def write_jsonl(path: Path, cases: list[Case]) -> None:
    ordered = sorted(cases, key=lambda c: _natural(str(c["id"])))
    keys = ("id", "source", "rule", "path", "text", "secrets")
    lines = [json.dumps({k: c[k] for k in keys}, ensure_ascii=False) for c in ordered]
    # characters str.splitlines() breaks on that JSON leaves raw: escaped, one case per line
    # for any reader (they only occur inside strings, where the escape means the same)
    lines = [line.translate(_LINE_BREAKS) for line in lines]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def summary(name: str, cases: list[Case]) -> dict[str, int]:
    positives = [c for c in cases if c["secrets"]]
    spans = sum(len(cast(list[object], c["secrets"])) for c in positives)
    return {
        "cases": len(cases),
        "positive_cases": len(positives),
        "positive_spans": spans,
        "negatives": len(cases) - len(positives),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=Path, default=MIRRORS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    mirrors = {name: Mirror(repo, args.mirrors) for name, repo in SOURCES.items()}
    skips = Skips()
    builders: dict[str, Callable[[], list[Case]]] = {
        "gitleaks": lambda: gitleaks_cases(mirrors["gitleaks"], skips),
        "detect_secrets": lambda: detect_secrets_cases(mirrors["detect_secrets"], skips),
        "secretlint": lambda: scan_corpus_peers.secretlint_cases(mirrors["secretlint"], skips),
        "credsweeper": lambda: scan_corpus_peers.credsweeper_cases(mirrors["credsweeper"], skips),
        "own": scan_corpus_own.own_cases,
    }
    counts: dict[str, dict[str, int]] = {}
    for name, build in builders.items():
        cases = build()
        empty = [c for c in cases if not c["text"]]
        why = "the path-only pkcs12-file examples" if name == "gitleaks" else "an empty input"
        skips.add(f"{name}: empty text, nothing to scan ({why})", len(empty))
        cases = [c for c in cases if c["text"]]
        write_jsonl(args.out / f"{name}.jsonl", cases)
        counts[name] = summary(name, cases)
    readme = scan_corpus_peers.readme(mirrors, counts, skips)
    (args.out / "README.md").write_text(readme, encoding="utf-8")
    print(f"{'source':<16}{'cases':>8}{'positive':>10}{'spans':>8}{'negative':>10}")
    for name, c in counts.items():
        print(
            f"{name:<16}{c['cases']:>8}{c['positive_cases']:>10}"
            f"{c['positive_spans']:>8}{c['negatives']:>10}"
        )
    for reason, n in sorted(skips.reasons.items()):
        print(f"skipped {n:>5}  {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
