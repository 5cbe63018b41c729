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
    git_repository([(source, "app/source.py")], repo)
    # Only the history holds the key now: a scan of the files finds nothing.
    subprocess.run(["git", "rm", "-q", "app/source.py"], cwd=repo, check=True)
    history = run_full(repo, git=True)
    assert [(f.path, f.first, f.rule) for f in history.findings] == [
        ("app/source.py", 301, "aws-access-key")
    ]
    assert run_full(repo).findings == []
