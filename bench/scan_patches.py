"""Reading a history's patches: stacksafe's narrow reader against unidiff, the library it
replaced on ``scan --git``'s path, on the same ``git log -p`` output, in CPU seconds.

The history is scan_speed.py's (about ``--history-mb`` MB of site-packages source added in
``--commits`` commits); git's output is read once into memory, so only the parsing is timed:
``patches.PatchReader`` fed 1 MiB pieces, and unidiff's ``PatchSet`` per commit with the runs
collected as stacksafe collected them (tests/scan/test_patches.py's reference). Both must give
the same runs; the rounds alternate; medians of ``time.process_time``.

Run: ``.venv/bin/python bench/scan_patches.py [--history-mb 20 --commits 2000 --rounds 3]``
(about a minute; not part of ``make bench``: scan_speed.py times the whole scan).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scan_speed import SOURCE_MB, git_repository, source_files, subset_of
from tests.scan.test_patches import Run, git_log, ours, unidiffs


def timed(parse: Callable[[bytes], list[Run]], output: bytes) -> tuple[float, list[Run]]:
    started = time.process_time()
    runs = parse(output)
    return time.process_time() - started, runs


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history-mb", type=float, default=20.0)
    parser.add_argument("--commits", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stacksafe-patches-") as temporary:
        files = subset_of(source_files(SOURCE_MB * 1_000_000), args.history_mb * 1e6)
        repo = Path(temporary) / "repo"
        git_repository(files, repo, args.commits)
        output = git_log(repo, "HEAD")
    readers: dict[str, Callable[[bytes], list[Run]]] = {
        "stacksafe PatchReader": lambda out: ours(out, 1 << 20),
        "unidiff PatchSet": unidiffs,
    }
    seconds: dict[str, list[float]] = {name: [] for name in readers}
    found: dict[str, list[Run]] = {}
    for _ in range(args.rounds):
        for name, parse in readers.items():
            spent, found[name] = timed(parse, output)
            seconds[name].append(spent)
    if found["stacksafe PatchReader"] != found["unidiff PatchSet"]:
        raise SystemExit("the two readers found different runs")
    runs = found["unidiff PatchSet"]
    print(f"# Reading {len(output) / 1e6:.1f} MB of git log -p ({args.commits} commits)\n")
    print(f"{len(runs)} runs of added lines, {sum(len(r[3]) for r in runs) / 1e6:.1f} MB, equal\n")
    print("| reader | median CPU s | rounds |\n|---|---:|---:|")
    for name, times in seconds.items():
        print(f"| {name} | {statistics.median(times):.2f} | {len(times)} |")


if __name__ == "__main__":
    main()
