"""A real git repository for tests: ``git init``, files, commits and staged changes."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["GitRepo"]

_IDENTITY = ("-c", "user.email=test@example.invalid", "-c", "user.name=Test")


class GitRepo:
    """Runs the real ``git`` in ``root`` (created with ``git init``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *_IDENTITY, "-c", "commit.gpgsign=false", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return path

    def stage(self, *names: str) -> None:
        self.git("add", "--", *names)

    def commit(self, message: str, **files: str) -> str:
        """Write ``files`` (name=text), stage them, commit; the new commit's id."""
        for name, text in files.items():
            self.write(name, text)
        if files:
            self.stage(*files)
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def conflicting_merge(self, name: str, side: str, main: str, resolved: str) -> str:
        """Branch ``side`` writes ``name`` as ``side``, main as ``main``; merging them conflicts
        and the merge commit resolves it as ``resolved``. The merge commit's id."""
        self.git("checkout", "-q", "-b", "side")
        self.commit("side", **{name: side})
        self.git("checkout", "-q", "main")
        self.commit("main", **{name: main})
        failed = subprocess.run(
            ["git", "merge", "-q", "side"], cwd=self.root, capture_output=True, check=False
        )
        if failed.returncode == 0:
            raise AssertionError("the merge was meant to conflict")
        return self.commit("merged", **{name: resolved})
