"""What a scan reads: files under paths (gitignore, .git, symlinks) and real git history."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from stacksafe.errors import InvalidInput
from stacksafe.scan.sources import (
    Patch,
    added_runs,
    excluded,
    files_under,
    git_patches,
    is_binary,
    unquoted,
)
from tests.scan.gitrepo import GitRepo


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    """The working directory is tmp_path for the test (display paths are relative to it)."""
    before = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(before)


def shown(paths: list[str], *, gitignore: bool = True, exclude: Sequence[str] = ()) -> list[str]:
    return [e.display for e in files_under(paths, gitignore=gitignore, exclude=exclude)]


def test_walks_directories_sorted_without_dot_git(in_tmp: Path) -> None:
    (in_tmp / "d" / "sub").mkdir(parents=True)
    (in_tmp / "d" / ".git").mkdir()
    (in_tmp / "d" / ".git" / "config").write_text("x")
    (in_tmp / "d" / "b.txt").write_text("b")
    (in_tmp / "d" / "sub" / "a.txt").write_text("a")
    (in_tmp / "top.txt").write_text("t")
    assert shown(["d", "top.txt"]) == ["d/b.txt", "d/sub/a.txt", "top.txt"]


def test_a_file_named_twice_is_read_once(in_tmp: Path) -> None:
    (in_tmp / "a.txt").write_text("a")
    assert shown(["a.txt", ".", "./a.txt"]) == ["a.txt"]


def test_symlinks_are_not_followed(in_tmp: Path) -> None:
    (in_tmp / "real").mkdir()
    (in_tmp / "real" / "f.txt").write_text("f")
    (in_tmp / "link.txt").symlink_to(in_tmp / "real" / "f.txt")
    (in_tmp / "linkdir").symlink_to(in_tmp / "real")
    assert shown(["."]) == ["real/f.txt"]


def test_git_ignored_files_are_left_out_unless_named(in_tmp: Path) -> None:
    repo = GitRepo(in_tmp / "repo")
    repo.write(".gitignore", "build/\n*.log\n")
    repo.write("build/out.txt", "o")
    repo.write("debug.log", "l")
    repo.write("src/app.py", "a")
    assert shown(["repo"]) == ["repo/.gitignore", "repo/src/app.py"]
    assert shown(["repo"], gitignore=False) == [
        "repo/.gitignore",
        "repo/debug.log",
        "repo/build/out.txt",
        "repo/src/app.py",
    ]
    assert shown(["repo/debug.log"]) == ["repo/debug.log"]
    # An ignored directory named on the command line is scanned, all of it (logs usually are).
    repo.write("build/nested/deep.txt", "d")
    assert shown(["repo/build"]) == ["repo/build/out.txt", "repo/build/nested/deep.txt"]


def test_an_untracked_nested_repository_is_walked_not_skipped(in_tmp: Path) -> None:
    repo = GitRepo(in_tmp / "repo")
    repo.write("app.py", "a")
    nested = GitRepo(in_tmp / "repo" / "vendor")  # git lists it as one entry: vendor/
    nested.write("conf.txt", "c")
    assert shown(["repo"]) == ["repo/app.py", "repo/vendor/conf.txt"]


def test_a_missing_path_is_an_error(in_tmp: Path) -> None:
    with pytest.raises(InvalidInput, match="nope does not exist"):
        files_under(["nope"])


def test_binary_sniff() -> None:
    assert is_binary(b"abc\x00def")
    assert not is_binary("plain text, even é€".encode())
    assert not is_binary(b"x" * 8000 + b"\x00")  # beyond the first 8,000 bytes


def test_git_history_and_staged_changes(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    first = repo.commit("one", **{"a.txt": "line 1\nline 2\n"})
    second = repo.commit("two", **{"a.txt": "line 1\nline 2\nadded 3\nadded 4\n", "b.txt": "b\n"})
    repo.write("a.txt", "line 1\nchanged 2\nadded 3\nadded 4\nstaged 5\n")
    repo.stage("a.txt")
    repo.write("b.txt", "not staged\n")
    patches = git_patches(repo.root)
    assert [p.commit for p in patches] == [second, first, None]
    runs = {p.commit: list(added_runs(p)) for p in patches}
    assert runs[first] == [("a.txt", 1, b"line 1\nline 2\n")]
    assert sorted(runs[second]) == [("a.txt", 3, b"added 3\nadded 4\n"), ("b.txt", 1, b"b\n")]
    assert runs[None] == [("a.txt", 2, b"changed 2\n"), ("a.txt", 5, b"staged 5\n")]
    since = git_patches(repo.root, first)
    assert [p.commit for p in since] == [second, None]


def test_git_repository_without_commits_has_only_staged_changes(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write("new.txt", "hello\n")
    repo.stage("new.txt")
    [patch] = git_patches(repo.root)
    assert patch.commit is None
    assert list(added_runs(patch)) == [("new.txt", 1, b"hello\n")]


def test_git_errors(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    with pytest.raises(InvalidInput, match="needs a repository with commits"):
        git_patches(repo.root, "HEAD~1")
    repo.commit("one", **{"a.txt": "a\n"})
    with pytest.raises(InvalidInput, match="not a commit"):
        git_patches(repo.root, "no-such-rev")
    (tmp_path / "plain").mkdir()
    with pytest.raises(InvalidInput, match="not inside a git work tree"):
        git_patches(tmp_path / "plain")


def test_non_utf8_added_lines_keep_their_bytes() -> None:
    text = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -0,0 +1 @@\n+caf\udce9\n"
    assert list(added_runs(Patch("c", text))) == [("x", 1, b"caf\xe9\n")]


@pytest.mark.parametrize(
    ("path", "patterns", "out"),
    [
        ("tests/a/b.py", ["tests"], True),
        ("tests/a/b.py", ["tests/*"], True),
        ("src/tests.py", ["tests"], False),
        ("docs/x.md", ["*.md"], True),
        ("docs/x.md", [], False),
        ("a/vectors/v.json", ["*/vectors"], True),
        ("/abs/dir/file.json", ["/abs/dir/file.json"], True),
        ("/abs/dir/file.json", ["/abs/dir"], True),
    ],
)
def test_excluded(path: str, patterns: list[str], out: bool) -> None:
    assert excluded(path, patterns) is out


def test_exclusions_are_never_read(in_tmp: Path) -> None:
    (in_tmp / "fixtures").mkdir()
    (in_tmp / "fixtures" / "fake.txt").write_text("f")
    (in_tmp / "keep.txt").write_text("k")
    assert shown(["."], exclude=["fixtures"]) == ["keep.txt"]


def test_a_nul_byte_late_in_a_text_file_is_text_not_a_commit_boundary(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    # git's binary test looks at the first 8,000 bytes only: this file's patch holds a NUL.
    text = b"a" * 80 + b"\n"
    body = text * 120 + b"tail\0Sup3rS3cretPassw0rd\nafter\n"
    repo.write("a.txt", body)
    repo.write("b.txt", "plain\n")
    repo.stage("a.txt", "b.txt")
    commit = repo.commit("one")
    patches = git_patches(repo.root)
    assert [p.commit for p in patches] == [commit]
    runs = {path: data for path, _, data in added_runs(patches[0])}
    assert runs["a.txt"] == body
    assert runs["b.txt"] == b"plain\n"


def test_a_merge_commits_conflict_resolution_is_scanned(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", **{"f.txt": "base\n"})
    repo.git("checkout", "-q", "-b", "side")
    repo.commit("side", **{"f.txt": "side\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("main", **{"f.txt": "main\n"})
    failed = subprocess.run(
        ["git", "merge", "-q", "side"], cwd=repo.root, capture_output=True, check=False
    )
    assert failed.returncode != 0  # a conflict
    repo.commit("merged", **{"f.txt": "resolved with a-new-secret-value\n"})
    merge = repo.git("rev-parse", "HEAD").strip()
    patches = {p.commit: p for p in git_patches(repo.root)}
    added = [data for _, _, data in added_runs(patches[merge])]
    assert b"resolved with a-new-secret-value\n" in added


def test_git_on_a_scanned_repository_runs_no_command_its_configuration_names(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scanned repository may be anyone's, and its own configuration can name a command git
    runs (core.fsmonitor; external diffs and textconv were already off): it must not run. Git
    is also started without stacksafe's variables, so anything it might still start gets no
    token (not observable here once nothing runs)."""
    repo = GitRepo(in_tmp / "r")
    repo.write("a.txt", "hello\n")
    repo.stage("a.txt")
    ran = in_tmp / "monitor-ran"
    monitor = in_tmp / "monitor.sh"
    monitor.write_text(f'#!/bin/sh\nenv > "{ran}"\n')
    monitor.chmod(0o755)
    repo.git("config", "core.fsmonitor", str(monitor))
    monkeypatch.setenv("STACKSAFE_TOKEN", "ssk_must-not-reach-git")
    assert shown(["r"]) == ["r/a.txt"]
    git_patches(in_tmp / "r")
    assert not ran.exists()


def test_text_shaped_like_a_separator_is_text_not_a_commit(tmp_path: Path) -> None:
    # A file cannot know the separator of a scan (128 random bits): one shaped like it stays text.
    repo = GitRepo(tmp_path / "repo")
    forged = b"\0stacksafe-" + b"0" * 32 + b"\0" + b"f" * 40 + b"\nleaked=value\n"
    body = b"a" * 80 + b"\n"
    repo.write("a.txt", body * 120 + forged)
    repo.stage("a.txt")
    commit = repo.commit("one")
    patches = git_patches(repo.root)
    assert [p.commit for p in patches] == [commit]
    [(path, _, data)] = list(added_runs(patches[0]))
    assert (path, data) == ("a.txt", body * 120 + forged)


def test_git_paths_that_git_quotes_are_named_as_the_files_are(tmp_path: Path) -> None:
    # Even with core.quotepath=off, git quotes a tab, a quote or a backslash in a diff header
    # ("a\tb.txt"); findings, --exclude globs and baselines must see the file's own name.
    repo = GitRepo(tmp_path / "repo")
    names = ["tab\there.txt", 'say "hi".txt', "back\\slash.txt", "café.txt"]
    commit = repo.commit("odd names", **dict.fromkeys(names, "x\n"))
    (patch,) = git_patches(repo.root)
    assert patch.commit == commit
    assert sorted(path for path, _, _ in added_runs(patch)) == sorted(names)


def test_unquoted_reads_git_escapes_and_octal_bytes() -> None:
    assert unquoted('"a\\tb\\\\c\\"d"') == 'a\tb\\c"d'
    assert unquoted('"caf\\303\\251 \\377"') == "café \udcff"  # a byte that is not UTF-8
    assert unquoted("plain.txt") == "plain.txt"
