"""The scanning speed benchmark's full scan (bench/scan_speed.py): with ``git`` it scans the lines
the history added, as ``stacksafe scan --git`` does, not the files of the work tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from scan_speed import git_repository, run_full

# An AWS access key id of the documented shape (AKIA and 16 of base32's alphabet), not a mask.
AWS_KEY = "AKIA" + "Z3MHQW7RBXTLPQ4N"


def test_the_full_scan_of_a_history_finds_what_the_tree_no_longer_holds(tmp_path: Path) -> None:
    source = tmp_path / "source.py"
    source.write_text("".join(f"line_{n} = {n}\n" for n in range(300)) + f'KEY = "{AWS_KEY}"\n')
    repo = tmp_path / "repo"
    git_repository([(source, "app/source.py")], repo, commits=30)
    # Only the history holds the key now: a scan of the files finds nothing.
    subprocess.run(["git", "rm", "-q", "app/source.py"], cwd=repo, check=True)
    history = run_full(repo, git=True)
    assert [(f.path, f.first, f.rule) for f in history.findings] == [
        ("app/source.py", 301, "aws-access-key")
    ]
    assert run_full(repo).findings == []
    assert history.cpu > 0  # the scan's CPU seconds are counted (its subprocess, git's)


def test_the_history_adds_every_line_once_in_the_commits_asked(tmp_path: Path) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("".join(f"a{n}\n" for n in range(7)))
    second.write_text("b0\nb1\n")
    repo = tmp_path / "repo"
    git_repository([(first, "a.txt"), (second, "d/b.txt")], repo, commits=4)
    log = subprocess.run(
        ["git", "log", "--format=%x00", "-p", "--unified=0"], cwd=repo, check=True,
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert log.count("\0") == 4
    added = [line[1:] for line in log.splitlines() if line[:1] == "+" and line[:4] != "+++ "]
    assert sorted(added) == sorted([f"a{n}" for n in range(7)] + ["b0", "b1"])
    assert (repo / "d" / "b.txt").read_text() == "b0\nb1\n"
