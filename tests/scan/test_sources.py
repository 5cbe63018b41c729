"""What a scan reads of a file system: files under paths (gitignore, .git, symlinks)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from stacksafe.errors import InvalidInput
from stacksafe.scan.sources import excluded, files_under, is_binary
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
