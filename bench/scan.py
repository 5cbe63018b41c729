"""Leak-scan throughput: the known-value scan against GNU grep, the pattern scan against
detect-secrets' own CLI, each measured in the same run on the same generated corpus.

* **known values**: a 100 MB text corpus (code-like lines) in which 1,000 of 10,000 managed
  values (random 12-48 character tokens) are planted. stacksafe: ``KnownValues`` built over the
  10,000 values, then ``scan_paths`` reading the file in 1 MiB chunks (the engine ``stacksafe
  scan --no-patterns`` runs). Baseline: ``LC_ALL=C grep -F -c -f values.txt corpus.txt`` (GNU
  grep's fixed-string matcher over the same values; the C locale is grep's fastest). Both must
  find every planted value; ratio = grep seconds / stacksafe seconds (target >= 0.5).
* **patterns**: detect-secrets scans about 0.3 MB/s per core, so a 100 MB corpus would take
  minutes: this uses a smaller corpus of 40 files, 2.6 MB in all, with fake AWS keys, private-key
  headers and high-entropy strings planted. stacksafe: ``stacksafe scan --no-known-values DIR``;
  baseline: ``detect-secrets scan --all-files DIR`` (stacksafe's detector before its own rules;
  its own process pool); both as the installed console scripts. Ratio = detect-secrets seconds
  / stacksafe seconds (target >= 1.0: no slower). The counts differ by design: stacksafe reports
  no bare high-entropy string and no private-key header without a key body (scan_quality.py
  compares what each finds against labels; this script only times them).

Run: ``.venv/bin/python bench/scan.py`` (about 2 minutes; the corpus is generated into a
temporary directory and deleted). Figures are medians of interleaved rounds; read the ratios.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from stacksafe.model import SecretValue
from stacksafe.scan import Detectors, KnownValues, Location, scan_paths

sys.path.insert(0, str(Path(__file__).parent))
from results import emit

MANAGED = 10_000
PLANTED = 1_000
CORPUS_BYTES = 100 * 1000 * 1000
PATTERN_FILES = 40
PATTERN_FILE_BYTES = 50_000
ROUNDS = 3
PATTERN_ROUNDS = 5  # about 8 s a run: single pairs vary by +-20 %, the median of 5 less
KNOWN_TARGET = 0.5
PATTERN_TARGET = 1.0
BIN = Path(sys.executable).parent
ALNUM = string.ascii_letters + string.digits


def _words(rnd: random.Random) -> list[str]:
    keywords = ["def", "return", "import", "self", "config", "value", "user", "for", "in", "if"]
    made = ["".join(rnd.choices(string.ascii_lowercase, k=rnd.randint(2, 10))) for _ in range(3000)]
    return keywords * 50 + made


def _lines(rnd: random.Random, words: list[str], count: int) -> list[str]:
    return [
        " " * rnd.choice((0, 4, 8)) + " ".join(rnd.choices(words, k=rnd.randint(2, 12)))
        for _ in range(count)
    ]


def known_corpus(directory: Path) -> tuple[Path, Path, list[str], set[tuple[int, int]]]:
    """corpus.txt with PLANTED of the MANAGED values planted; values.txt for grep; the plants
    as (line number, index of the value)."""
    rnd = random.Random(1)
    values = sorted({"".join(rnd.choices(ALNUM, k=rnd.randint(12, 48))) for _ in range(MANAGED)})
    words = _words(rnd)
    corpus = directory / "corpus.txt"
    planted: set[tuple[int, int]] = set()
    lines_before = 0
    written = 0
    block = _lines(rnd, words, 20_000)
    with corpus.open("w") as out:
        while written < CORPUS_BYTES:
            rnd.shuffle(block)
            lines = list(block)
            for _ in range(PLANTED * len(lines) * 60 // CORPUS_BYTES + 1):
                if len(planted) < PLANTED:
                    at = rnd.randrange(len(lines))
                    if lines[at] is not block[at]:
                        continue  # one plant per line, so grep's line count is comparable
                    index = rnd.randrange(len(values))
                    lines[at] = lines[at] + f' token = "{values[index]}"'
                    planted.add((lines_before + at + 1, index))
            text = "\n".join(lines) + "\n"
            out.write(text)
            written += len(text)
            lines_before += len(lines)
    patterns = directory / "values.txt"
    patterns.write_text("\n".join(values) + "\n")
    return corpus, patterns, values, planted


def pattern_corpus(directory: Path) -> Path:
    rnd = random.Random(2)
    words = _words(rnd)
    root = directory / "patterns"
    root.mkdir()
    for index in range(PATTERN_FILES):
        lines = _lines(rnd, words, PATTERN_FILE_BYTES // 40)
        for _ in range(3):
            fake = rnd.choice(
                [
                    'aws_key = "AKIA' + "".join(rnd.choices(string.ascii_uppercase, k=16)) + '"',
                    "-----BEGIN RSA PRIVATE KEY-----",  # pragma: allowlist secret
                    'blob = "' + "".join(rnd.choices(ALNUM + "+/", k=48)) + '"',
                ]
            )
            lines.insert(rnd.randrange(len(lines)), fake)
        (root / f"module_{index:03}.py").write_text("\n".join(lines) + "\n")
    return root


def timed(run: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    outcome = run()
    return time.perf_counter() - start, outcome


def bench_known(directory: Path) -> None:
    corpus, patterns, values, planted = known_corpus(directory)
    size = corpus.stat().st_size
    entries = [(Location("acme", "web", f"KEY_{i}"), SecretValue(v)) for i, v in enumerate(values)]
    build_seconds, known = timed(lambda: KnownValues(entries))
    assert isinstance(known, KnownValues)
    detectors = Detectors(key=b"k" * 32, known=known, patterns=False)
    grep = ["grep", "-F", "-c", "-f", str(patterns), str(corpus)]
    env = {**os.environ, "LC_ALL": "C"}
    ours, theirs, ratios = [], [], []
    for _ in range(ROUNDS):
        mine, result = timed(lambda: scan_paths([str(corpus)], detectors))
        base, done = timed(lambda: subprocess.run(grep, capture_output=True, env=env, check=True))
        # Exactly the plants: every planted value found on its line, nothing else found.
        found = {
            (f.line, int(location.key.removeprefix("KEY_")))
            for f in result.findings  # type: ignore[attr-defined]
            for location in f.locations
        }
        assert found == planted, (len(found - planted), len(planted - found))
        assert int(done.stdout) == len(planted), done.stdout  # type: ignore[attr-defined]
        ours.append(mine)
        theirs.append(base)
        ratios.append(base / mine)
    ratio = statistics.median(ratios)
    print(f"known values: {size / 1e6:.0f} MB corpus, {len(values):,} managed values,")
    print(f"  {len(planted)} planted lines, all found by both, nothing else by stacksafe")
    print(f"  automaton build        {build_seconds:6.2f} s")
    for name, seconds in (("stacksafe scan", ours), ("grep -F -f (LC_ALL=C)", theirs)):
        median = statistics.median(seconds)
        print(f"  {name:<22} {median:6.2f} s  ({size / 1e6 / median:.0f} MB/s)")
    verdict = "PASS" if ratio >= KNOWN_TARGET else "FAIL"
    print(f"  ratio grep/stacksafe   {ratio:6.2f}   target >= {KNOWN_TARGET}: {verdict}")
    emit(
        f"scan: known values, {size / 1e6:.0f} MB, {len(values):,} values",
        measured=f"{statistics.median(ours):.2f} s",
        baseline=f"grep -F -f {statistics.median(theirs):.2f} s",
        ratio=ratio,
        target=f"grep / stacksafe >= {KNOWN_TARGET}",
        passed=ratio >= KNOWN_TARGET,
    )


def _count_detect_secrets(stdout: bytes) -> int:
    results = json.loads(stdout)["results"]
    return sum(len(found) for found in results.values())


def bench_patterns(directory: Path) -> None:
    root = pattern_corpus(directory)
    size = sum(p.stat().st_size for p in root.iterdir())
    # Both from inside the corpus: detect-secrets skips files outside its working directory.
    ours_cmd = [str(BIN / "stacksafe"), "scan", "--no-known-values", "--format", "json", "."]
    theirs_cmd = [str(BIN / "detect-secrets"), "scan", "--all-files", "."]
    ours, theirs, ratios = [], [], []
    counts = (0, 0)
    for round_number in range(PATTERN_ROUNDS):

        def run_ours() -> tuple[float, object]:
            return timed(
                lambda: subprocess.run(ours_cmd, capture_output=True, check=False, cwd=root)
            )

        def run_theirs() -> tuple[float, object]:
            return timed(
                lambda: subprocess.run(theirs_cmd, capture_output=True, check=True, cwd=root)
            )

        # Alternate which goes first: the second of a pair runs on a warmer machine.
        if round_number % 2:
            base, them = run_theirs()
            mine, done = run_ours()
        else:
            mine, done = run_ours()
            base, them = run_theirs()
        assert done.returncode == 1, done.stderr  # type: ignore[attr-defined]
        counts = (
            len(json.loads(done.stdout)["findings"]),  # type: ignore[attr-defined]
            _count_detect_secrets(them.stdout),  # type: ignore[attr-defined]
        )
        ours.append(mine)
        theirs.append(base)
        ratios.append(base / mine)
    ratio = statistics.median(ratios)
    print(f"patterns: {PATTERN_FILES} files, {size / 1e6:.1f} MB (smaller corpus: see docstring)")
    for name, seconds, count in (
        ("stacksafe scan --no-known-values", ours, counts[0]),
        ("detect-secrets scan --all-files", theirs, counts[1]),
    ):
        print(f"  {name:<33} {statistics.median(seconds):6.2f} s  ({count} findings)")
    verdict = "PASS" if ratio >= PATTERN_TARGET else "FAIL"
    print(
        f"  ratio detect-secrets/stacksafe    {ratio:6.2f}  target >= {PATTERN_TARGET}: {verdict}"
    )
    emit(
        f"scan: patterns, {size / 1e6:.1f} MB",
        measured=f"{statistics.median(ours):.2f} s",
        baseline=f"detect-secrets {statistics.median(theirs):.2f} s",
        ratio=ratio,
        target=f"detect-secrets / stacksafe >= {PATTERN_TARGET}",
        passed=ratio >= PATTERN_TARGET,
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="stacksafe-scan-bench-") as temporary:
        directory = Path(temporary)
        bench_known(directory)
        bench_patterns(directory)


if __name__ == "__main__":
    main()
