"""A repository's history as the real git writes it: commits, staged changes, merges, the
separator, quoted paths, the repository's own configuration, and git's output read as it comes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from stacksafe.errors import InvalidInput
from stacksafe.scan import gitstreams
from stacksafe.scan import history as history_module
from stacksafe.scan.history import GitHistory
from stacksafe.scan.sources import files_under
from tests.scan.gitrepo import GitRepo

Runs = dict[str | None, list[tuple[str, int, bytes]]]


def read(repo: Path, since: str | None = None) -> tuple[list[str | None], Runs]:
    """The commits with a patch, in order, and each one's runs (path, first line, bytes)."""
    history = GitHistory(repo, since)
    runs: Runs = {}
    for run in history:
        runs.setdefault(run.commit, []).append((run.path, run.first_line, run.data))
    return history.commits, runs


def test_git_history_and_staged_changes(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    first = repo.commit("one", **{"a.txt": "line 1\nline 2\n"})
    second = repo.commit("two", **{"a.txt": "line 1\nline 2\nadded 3\nadded 4\n", "b.txt": "b\n"})
    repo.write("a.txt", "line 1\nchanged 2\nadded 3\nadded 4\nstaged 5\n")
    repo.stage("a.txt")
    repo.write("b.txt", "not staged\n")
    commits, runs = read(repo.root)
    assert commits == [second, first, None]
    assert runs[first] == [("a.txt", 1, b"line 1\nline 2\n")]
    assert sorted(runs[second]) == [("a.txt", 3, b"added 3\nadded 4\n"), ("b.txt", 1, b"b\n")]
    assert runs[None] == [("a.txt", 2, b"changed 2\n"), ("a.txt", 5, b"staged 5\n")]
    since, _ = read(repo.root, first)
    assert since == [second, None]


def test_a_commit_that_only_deletes_is_a_commit_with_nothing_added(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    first = repo.commit("one", **{"a.txt": "a\nb\n"})
    second = repo.commit("two", **{"a.txt": "a\n"})
    empty = repo.commit("nothing changed")
    commits, runs = read(repo.root)
    assert commits == [second, first]  # an empty commit has no patch: not counted
    assert second not in runs
    assert empty not in runs


def test_git_repository_without_commits_has_only_staged_changes(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write("new.txt", "hello\n")
    repo.stage("new.txt")
    assert read(repo.root) == ([None], {None: [("new.txt", 1, b"hello\n")]})


def test_git_errors(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    with pytest.raises(InvalidInput, match="needs a repository with commits"):
        GitHistory(repo.root, "HEAD~1")
    repo.commit("one", **{"a.txt": "a\n"})
    with pytest.raises(InvalidInput, match="not a commit"):
        GitHistory(repo.root, "no-such-rev")
    (tmp_path / "plain").mkdir()
    with pytest.raises(InvalidInput, match="not inside a git work tree"):
        GitHistory(tmp_path / "plain")


def test_a_nul_byte_late_in_a_text_file_is_text_not_a_commit_boundary(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    # git's binary test looks at the first 8,000 bytes only: this file's patch holds a NUL.
    text = b"a" * 80 + b"\n"
    body = text * 120 + b"tail\0Sup3rS3cretPassw0rd\nafter\n"
    repo.write("a.txt", body)
    repo.write("b.txt", "plain\n")
    repo.stage("a.txt", "b.txt")
    commit = repo.commit("one")
    commits, runs = read(repo.root)
    assert commits == [commit]
    assert {path: data for path, _, data in runs[commit]} == {"a.txt": body, "b.txt": b"plain\n"}


def test_a_merge_commits_conflict_resolution_is_scanned(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("base", **{"f.txt": "base\n"})
    merge = repo.conflicting_merge(
        "f.txt", "side\n", "main\n", "resolved with a-new-secret-value\n"
    )
    _, runs = read(repo.root)
    assert b"resolved with a-new-secret-value\n" in [data for _, _, data in runs[merge]]


def test_git_on_a_scanned_repository_runs_no_command_its_configuration_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scanned repository may be anyone's, and its own configuration can name a command git
    runs (core.fsmonitor; external diffs and textconv were already off): it must not run. Git
    is also started without stacksafe's variables, so anything it might still start gets no
    token (not observable here once nothing runs)."""
    repo = GitRepo(tmp_path / "r")
    repo.write("a.txt", "hello\n")
    repo.stage("a.txt")
    ran = tmp_path / "monitor-ran"
    monitor = tmp_path / "monitor.sh"
    monitor.write_text(f'#!/bin/sh\nenv > "{ran}"\n')
    monitor.chmod(0o755)
    repo.git("config", "core.fsmonitor", str(monitor))
    monkeypatch.setenv("STACKSAFE_TOKEN", "ssk_must-not-reach-git")
    assert [e.real for e in files_under([str(repo.root)])] == [repo.root / "a.txt"]
    assert read(repo.root)[0] == [None]
    assert not ran.exists()


def test_the_repositorys_diff_settings_do_not_change_what_is_read(tmp_path: Path) -> None:
    """Settings that would change git's patch output (no a/ b/ prefixes, paths relative to
    the directory scanned, context between hunks, colour, no root commit diff) are overridden:
    the same lines, paths and numbers, read from a subdirectory as from the top."""
    repo = GitRepo(tmp_path / "repo")
    first = repo.commit("one", **{"b/a.txt": "1\n2\n3\n4\n5\n6\n", "c.txt": "c\n"})
    second = repo.commit("two", **{"b/a.txt": "1\nX\n3\n4\nY\n6\n"})
    repo.write("b/a.txt", "1\nX\n3\n4\nY\nstaged\n")
    repo.stage("b/a.txt")
    plain = read(repo.root / "b")
    assert plain[0] == [second, first, None]
    assert plain[1][second] == [("b/a.txt", 2, b"X\n"), ("b/a.txt", 5, b"Y\n")]
    assert plain[1][None] == [("b/a.txt", 6, b"staged\n")]
    assert ("c.txt", 1, b"c\n") in plain[1][first]
    for name, value in (
        ("diff.noprefix", "true"),
        ("diff.mnemonicPrefix", "true"),
        ("diff.relative", "true"),
        ("diff.interHunkContext", "5"),
        ("diff.suppressBlankEmpty", "true"),
        ("color.ui", "always"),
        ("color.diff", "always"),
        ("log.showRoot", "false"),
    ):
        repo.git("config", name, value)
    assert read(repo.root / "b") == plain


def test_text_shaped_like_a_separator_is_text_not_a_commit(tmp_path: Path) -> None:
    # A file cannot know the separator of a scan (128 random bits): one shaped like it stays text.
    repo = GitRepo(tmp_path / "repo")
    forged = b"\0stacksafe-" + b"0" * 32 + b"\0" + b"f" * 40 + b"\nleaked=value\n"
    body = b"a" * 80 + b"\n"
    repo.write("a.txt", body * 120 + forged)
    repo.stage("a.txt")
    commit = repo.commit("one")
    assert read(repo.root) == ([commit], {commit: [("a.txt", 1, body * 120 + forged)]})


def test_git_paths_that_git_quotes_are_named_as_the_files_are(tmp_path: Path) -> None:
    # Even with core.quotepath=off, git quotes a tab, a quote or a backslash in a diff header
    # ("a\tb.txt"); findings, --exclude globs and baselines must see the file's own name.
    repo = GitRepo(tmp_path / "repo")
    names = ["tab\there.txt", 'say "hi".txt', "back\\slash.txt", "café.txt", "with space.txt"]
    commit = repo.commit("odd names", **dict.fromkeys(names, "x\n"))
    commits, runs = read(repo.root)
    assert commits == [commit]
    assert sorted(path for path, _, _ in runs[commit]) == sorted(names)


def test_git_output_is_read_as_it_comes_in_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git's output is read a piece at a time (here 7 bytes: lines, hunks and commit lines
    cut anywhere): the same runs; the first is handed on while the rest is still to come."""
    repo = GitRepo(tmp_path / "repo")
    older = repo.commit("one", **{"a.txt": "alpha\nbeta\n"})
    newer = repo.commit("two", **{"a.txt": "alpha\nbeta\ngamma\n", "b.txt": "b1\nb2\n"})
    whole = read(repo.root)
    assert whole[0] == [newer, older]
    monkeypatch.setattr(gitstreams, "PIECE", 7)
    assert read(repo.root) == whole
    runs = iter(GitHistory(repo.root))
    run = next(runs)
    assert (run.commit, run.path, run.first_line, run.data) == (newer, "a.txt", 3, b"gamma\n")


def branching_history(root: Path) -> GitRepo:
    """Nine commits, a merge with a resolved conflict among them."""
    repo = GitRepo(root)
    for n in range(4):
        repo.commit(f"c{n}", **{f"f{n % 2}.txt": f"line {n}\n" * (n + 1)})
    repo.conflicting_merge("f0.txt", "side\n", "main\n", "resolved\n")
    repo.commit("after", **{"f1.txt": "after\n"})
    return repo


def test_slices_of_the_history_in_several_gits_read_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = branching_history(tmp_path / "repo")
    repo.write("staged.txt", "staged\n")
    repo.stage("staged.txt")
    log = repo.git("log", "--format=%H").split()
    monkeypatch.setattr(history_module, "_GITS", 3)
    assert GitHistory(repo.root).processes == 1  # under 100 commits a slice
    alone, since = read(repo.root), read(repo.root, log[5])
    monkeypatch.setattr(history_module, "_LEAST_COMMITS", 2)
    several = GitHistory(repo.root)
    assert several.processes == 3
    assert read(repo.root) == alone
    assert read(repo.root, log[5]) == since
    assert since[0] == [*log[:5], None]
    assert alone[0] == [*log, None]  # git log's order, newest first, then the staged changes
    assert b"resolved\n" in [data for _, _, data in alone[1][log[1]]]


def test_leaving_a_history_early_stops_its_gits_and_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = branching_history(tmp_path / "repo")
    monkeypatch.setattr(history_module, "_GITS", 3)
    monkeypatch.setattr(history_module, "_LEAST_COMMITS", 2)
    monkeypatch.setattr(gitstreams, "PIECE", 7)
    monkeypatch.setattr(gitstreams, "_QUEUED", 1)  # the threads wait on a full queue
    before = threading.active_count()
    runs = iter(GitHistory(repo.root))
    next(runs)
    assert before < threading.active_count() <= before + 3  # a thread per running git
    runs.close()  # type: ignore[attr-defined]
    assert threading.active_count() == before
