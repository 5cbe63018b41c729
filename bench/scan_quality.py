"""Scanning quality: precision, recall and F1 of stacksafe's pattern detector and of the peers
(gitleaks, detect-secrets, CredSweeper, secretlint) on the labeled corpus, in the same run.

Every case of ``tests/scan/corpus/*.jsonl`` is written to a temporary tree
(bench/scan_scoring.py says how, and how findings are scored); each scanner runs once over the
whole tree with its recommended defaults (bench/scan_tools.py: ``stacksafe scan
--no-known-values``, ``gitleaks dir``, ``detect-secrets scan --all-files``, ``credsweeper
--path``, ``secretlint "**/*"``). Printed: per scanner, P/R/F1 per source, pooled, and F1
averaged over the four peer sources; stacksafe's targets (issue 22) go to the summary table.
Written to ``--json`` (default bench/scan_quality.json): every figure, stacksafe's per-rule
true and false positives, and each scanner's missed case ids per source (first 30), for the
rule writers.

Run: ``.venv/bin/python bench/scan_quality.py`` (``--only stacksafe`` scores stacksafe alone;
``--corpus DIR`` another corpus). The first run installs CredSweeper and secretlint
(bench/scan_peers.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import scan_peers
from results import emit
from scan_scoring import PEER_SOURCES, Case, Score, attribute, load_corpus, materialize, score
from scan_tools import TOOLS, Run, run_tool

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "scan" / "corpus"
MISSED_SHOWN = 30
SLOW = ("detect-secrets", "CredSweeper")
TARGETS = {"pooled F1": 0.90, "F1 averaged over the peer sources": 0.85, "precision": 0.93}


def _peer(name: str) -> scan_peers.Peer | None:
    return {
        "stacksafe": scan_peers.stacksafe,
        "gitleaks": scan_peers.gitleaks,
        "detect-secrets": scan_peers.detect_secrets,
        "CredSweeper": scan_peers.credsweeper,
        "secretlint": scan_peers.secretlint,
    }[name]()


def _row(name: str, label: str, counts_f1: float, p: float, r: float, averaged: str) -> str:
    return f"| {name} | {label} | {p:.3f} | {r:.3f} | {counts_f1:.3f} | {averaged} |"


def report(name: str, version: str, run: Run, result: Score, shared: bool) -> list[str]:
    lines = []
    for source, counts in sorted(result.sources.items()):
        lines.append(_row(name, source, counts.f1, counts.precision, counts.recall, ""))
    pooled = result.pooled
    sharing = ", two scanners at a time" if shared else ""
    label = f"**pooled** ({version}; {run.seconds:.1f} s{sharing})"
    lines.append(
        _row(name, label, pooled.f1, pooled.precision, pooled.recall, f"{result.averaged_f1:.3f}")
    )
    return lines


def to_json(version: str, run: Run, result: Score, rules: bool) -> dict[str, object]:
    data: dict[str, object] = {
        "version": version,
        "seconds": round(run.seconds, 2),
        "pooled": result.pooled.to_json(),
        "f1_averaged_over_peer_sources": round(result.averaged_f1, 4),
        "sources": {s: c.to_json() for s, c in sorted(result.sources.items())},
        "missed": {s: ids[:MISSED_SHOWN] for s, ids in sorted(result.missed.items())},
        "missed_count": {s: len(ids) for s, ids in sorted(result.missed.items())},
    }
    if rules:
        data["rules"] = {
            rule: {"tp": c.tp, "fp": c.fp}
            for rule, c in sorted(result.rules.items(), key=lambda item: -item[1].fp)
        }
    return data


def found_by_peers(results: dict[str, Score]) -> dict[str, int]:
    """Per source, how many of the cases stacksafe misses (a span or more) some peer finds
    whole: what rules could still win."""
    ours = results["stacksafe"].missed
    missed_by = {name: {s: set(ids) for s, ids in r.missed.items()} for name, r in results.items()}
    return {
        source: sum(
            1
            for case in ids
            if any(case not in missed_by[p].get(source, set()) for p in results if p != "stacksafe")
        )
        for source, ids in sorted(ours.items())
    }


def _emit_targets(result: Score, peers: dict[str, Score]) -> None:
    figures: dict[str, Callable[[Score], float]] = {
        "pooled F1": lambda s: s.pooled.f1,
        "F1 averaged over the peer sources": lambda s: s.averaged_f1,
        "precision": lambda s: s.pooled.precision,
    }
    for label, of_peer in figures.items():
        value = of_peer(result)
        best = max(peers.items(), key=lambda item: of_peer(item[1]), default=None)
        baseline = f"best peer {best[0]} {of_peer(best[1]):.3f}" if best else ""
        emit(
            f"scan quality: {label} (labeled corpus)",
            measured=f"{value:.3f}",
            baseline=baseline,
            ratio=value,
            target=f">= {TARGETS[label]}",
            passed=value >= TARGETS[label],
        )
    for name, peer in peers.items():
        emit(
            f"scan quality: {name} (same corpus, same run)",
            measured=(
                f"P {peer.pooled.precision:.3f} R {peer.pooled.recall:.3f} "
                f"F1 {peer.pooled.f1:.3f} avg F1 {peer.averaged_f1:.3f}"
            ),
        )


def evaluate(
    cases: Sequence[Case], tree: Path, by_prefix: dict[str, Case], name: str
) -> tuple[str, Run, Score] | None:
    """Run one scanner over the tree and score it; None when it is not available here."""
    peer = _peer(name)
    if peer is None:
        print(f"{name}: not available here (no node): left out")
        return None
    run = run_tool(name, peer, tree)
    hits = [h for f in run.findings if (h := attribute(f.path, f.first, f.last, f.rule, by_prefix))]
    unplaced = len(run.findings) - len(hits)
    if unplaced:
        print(f"{name}: {unplaced} findings under no case (ignored)")
    return peer.version, run, score(cases, hits)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder of *.jsonl cases")
    parser.add_argument(
        "--only", help="comma-separated scanners (default: all): " + ", ".join(TOOLS)
    )
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "scan_quality.json")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(TOOLS)
    unknown = [name for name in chosen if name not in TOOLS]
    if unknown:
        parser.error(f"unknown scanner {', '.join(unknown)}; one of {', '.join(TOOLS)}")
    files = sorted(args.corpus.glob("*.jsonl"))
    if not files:
        parser.error(f"no *.jsonl in {args.corpus}")
    cases = load_corpus(files)
    spans = sum(len(c.secrets) for c in cases)
    negatives = sum(1 for c in cases if not c.secrets)
    print("# Scanning quality on the labeled corpus\n")
    print(
        f"{len(cases)} cases from {len(files)} files in {args.corpus.name}/: {spans} labeled "
        f"secrets, {negatives} negative cases; sources: "
        + ", ".join(sorted({c.source for c in cases}))
        + "\n"
    )
    results: dict[str, Score] = {}
    data: dict[str, object] = {"cases": len(cases), "secrets": spans, "negatives": negatives}
    table = [
        "| scanner | source | precision | recall | F1 | F1 averaged over "
        + "/".join(PEER_SOURCES)
        + " |",
        "|---|---|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="stacksafe-quality-") as temporary:
        tree = Path(temporary) / "tree"
        by_prefix = materialize(cases, tree)
        # Two scanners at a time (two cores), the slow peers first: the run takes about as
        # long as detect-secrets alone. The seconds shown are each one's wall time so shared;
        # bench/scan_speed.py measures speed.
        order = sorted(chosen, key=lambda name: name not in SLOW)
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {n: pool.submit(evaluate, cases, tree, by_prefix, n) for n in order}
        for name in chosen:
            evaluated = futures[name].result()
            if evaluated is None:
                continue
            version, run, result = evaluated
            results[name] = result
            table += report(name, version, run, result, shared=len(chosen) > 1)
            data[name] = to_json(version, run, result, rules=name == "stacksafe")
    print("\n".join(table) + "\n")
    if "stacksafe" in results and len(results) > 1:
        data["stacksafe_missed_found_by_a_peer"] = found_by_peers(results)
    if "stacksafe" in results:
        rules = sorted(results["stacksafe"].rules.items(), key=lambda item: -item[1].fp)
        print("stacksafe per rule (findings on a labeled line / elsewhere):\n")
        print("| rule | TP | FP |\n|---|---:|---:|")
        print("\n".join(f"| {rule} | {c.tp} | {c.fp} |" for rule, c in rules) + "\n")
        peers = {n: s for n, s in results.items() if n != "stacksafe"}
        _emit_targets(results["stacksafe"], peers)
    args.json.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
