"""The reader of git's patches: its corner cases, any cut of git's output, and the same runs as
unidiff (the library it replaced on this path) on real histories: this repository's own, a
made one with every corner the format has, and random ones."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from unidiff.patch import PatchSet

from stacksafe.errors import InvalidInput
from stacksafe.scan.history import DIFF_OPTIONS
from stacksafe.scan.patches import AddedRun, PatchReader, added_runs, unquoted
from stacksafe.scan.sources import git
from tests.scan.gitrepo import GitRepo

ROOT = Path(__file__).resolve().parents[2]
SEPARATOR = "\x00stacksafe-test\x00"
Run = tuple[str | None, str, int, bytes]


def git_log(repo: Path, *revisions: str) -> bytes:
    """``git log -p`` as ``history`` runs it (a fixed separator: these tests write no file
    that holds it)."""
    log_format = "--format=" + SEPARATOR.replace("\x00", "%x00") + "%H"
    done = git(repo, "log", log_format, "--diff-merges=remerge", *DIFF_OPTIONS, *revisions)
    assert done.returncode == 0, done.stderr
    return done.stdout


def ours(output: bytes, piece: int | None = None) -> list[Run]:
    reader = PatchReader(SEPARATOR.encode())
    found: list[AddedRun] = []
    step = piece or len(output) or 1
    for at in range(0, len(output), step):
        found += reader.feed(output[at : at + step])
    found += reader.close()
    return [(r.commit, r.path, r.first_line, r.data) for r in found]


def unidiffs(output: bytes) -> list[Run]:
    """The runs as stacksafe read them with unidiff before (``sources.added_runs``)."""
    found: list[Run] = []
    for part in output.decode("utf-8", "surrogateescape").split(SEPARATOR)[1:]:
        commit, _, text = part.partition("\n")
        for patched in PatchSet.from_string(text):
            path = unquoted(patched.path)
            for hunk in patched:
                first, expected, run = 0, 0, bytearray()
                for line in hunk:
                    number = line.target_line_no
                    if not line.is_added or number is None:
                        continue
                    if run and number != expected:
                        found.append((commit, path, first, bytes(run)))
                        run = bytearray()
                    if not run:
                        first = number
                    run += line.value.encode("utf-8", "surrogateescape")
                    expected = number + 1
                if run:
                    found.append((commit, path, first, bytes(run)))
    return found


def test_added_lines_runs_and_numbers() -> None:
    patch = (
        b"diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n"
        b"@@ -1,2 +1 @@\n-old 1\n-old 2\n+new 1\n"
        b"@@ -9,0 +9,2 @@ def f():\n++++ not a header\n+--- nor this\n"
        b"@@ -20 +21,0 @@\n-gone\n"
    )
    assert added_runs(patch, "c") == [
        AddedRun("c", "x", 1, b"new 1\n"),
        AddedRun("c", "x", 9, b"+++ not a header\n--- nor this\n"),
    ]


def test_no_newline_markers_crlf_and_bytes_that_are_not_utf8() -> None:
    patch = (
        b"diff --git a/x b/x\n--- a/x\n+++ b/x\n"
        b"@@ -1 +1,2 @@\n-last\n\\ No newline at end of file\n+caf\xe9\r\n+last\n"
        b"\\ No newline at end of file\n"
    )
    assert added_runs(patch) == [AddedRun(None, "x", 1, b"caf\xe9\r\nlast\n")]


def test_context_lines_split_runs() -> None:
    # git writes context lines only with options stacksafe does not pass; read all the same.
    patch = b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,4 @@\n+a\n same\n\n+b\n"
    assert added_runs(patch) == [AddedRun(None, "x", 1, b"a\n"), AddedRun(None, "x", 4, b"b\n")]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -0,0 +1,2 @@\n+only one\n", "ended inside"),
        (b"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -0,0 +1 @@\n*secret\n", "no hunk holds"),
        (b"diff --git a/x b/x\n@@ -0,0 +1 @@\n+secret\n", "git did not write"),
    ],
)
def test_output_git_does_not_write_is_an_error_that_quotes_nothing(
    patch: bytes, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as raised:
        added_runs(patch)
    assert "secret" not in str(raised.value)
    assert "only one" not in str(raised.value)


def test_unquoted_reads_git_escapes_and_octal_bytes() -> None:
    assert unquoted('"a\\tb\\\\c\\"d"') == 'a\tb\\c"d'
    assert unquoted('"caf\\303\\251 \\377"') == "café \udcff"  # a byte that is not UTF-8
    assert unquoted("plain.txt") == "plain.txt"


def corner_history(root: Path) -> GitRepo:
    """Every corner of the patch format a history has: quoted and spaced paths, renames with
    and without edits, binary files, mode changes, deletions, no newline at the end, CRLF,
    added lines that look like headers, a merge with a conflict resolved."""
    repo = GitRepo(root)
    repo.commit("start", **{"a.txt": "1\n2\n3\n", 'say "hi".txt': "q\n", "sp ace.txt": "s\n"})
    repo.write("bin.dat", b"\x00\x01binary\n")
    repo.write("tab\there.txt", "t\nno newline")
    repo.stage("bin.dat", "tab\there.txt")
    repo.commit("odd files")
    repo.git("mv", "a.txt", "renamed.txt")
    repo.commit("rename only")
    repo.git("mv", "sp ace.txt", "sp ace 2.txt")
    repo.commit("rename with an edit", **{"sp ace 2.txt": "s\n+++ b/forged\n--- a/forged\n"})
    repo.write("bin.dat", b"\x00\x02other\n")
    repo.stage("bin.dat")
    repo.git("update-index", "--chmod=+x", "renamed.txt")
    repo.commit("binary edit and a mode change")
    repo.commit("crlf", **{"crlf.txt": "one\r\ntwo\r\n", "tab\there.txt": "t\nnow ends\n"})
    repo.git("rm", "-q", 'say "hi".txt')
    repo.commit("delete", **{"renamed.txt": "1\n2\n3\n@@ -1 +1 @@\n+x\n"})
    repo.conflicting_merge("renamed.txt", "1\nside\n3\n", "1\nmain\n3\n", "1\nresolved\n3\n")
    return repo


def test_the_same_runs_as_unidiff_on_a_history_with_every_corner(tmp_path: Path) -> None:
    repo = corner_history(tmp_path / "repo")
    output = git_log(repo.root)
    expected = unidiffs(output)
    assert ours(output) == expected
    paths = {path for _, path, _, _ in expected}
    assert {"tab\there.txt", "sp ace 2.txt", "crlf.txt", "renamed.txt"} <= paths
    assert "bin.dat" not in paths
    # Cut anywhere (a line, a hunk, a commit line): the same runs.
    for piece in (1, 2, 3, 7, 64, 4096):
        assert ours(output, piece) == expected


def random_history(root: Path, seed: int, commits: int) -> GitRepo:
    """Random edits (lines added, removed, changed; files made and removed; lines without a
    final newline, CRLF, header-like and non-UTF-8 lines) to a few files."""
    rnd = random.Random(seed)
    pool = [b"plain", b"+++ b/x", b"--- a/x", b"@@ -1 +1 @@", b"\\ No", b"", b" sp", b"cr\r",
            b"caf\xe9", b"diff --git a/y b/y", b"token=ghp_x"]  # fmt: skip
    repo = GitRepo(root)
    files: dict[str, list[bytes]] = {}
    for number in range(commits):
        for _ in range(rnd.randint(1, 3)):
            name = rnd.choice(["a.txt", "b c.txt", 'q"d.txt', "t\tx.txt", "dir/e.txt"])
            lines = files.setdefault(name, [])
            for _ in range(rnd.randint(1, 6)):
                at = rnd.randint(0, len(lines))
                if lines and rnd.random() < 0.4:
                    del lines[min(at, len(lines) - 1)]
                else:
                    lines.insert(at, rnd.choice(pool) + str(rnd.randint(0, 9)).encode())
            ending = b"" if rnd.random() < 0.2 else b"\n"
            repo.write(name, b"\n".join(lines) + (ending if lines else b""))
            repo.stage(name)
        if files and rnd.random() < 0.1:
            gone = rnd.choice(sorted(files))
            repo.git("rm", "-q", "-f", "--", gone)
            del files[gone]
        repo.commit(f"commit {number}")
    return repo


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_runs_as_unidiff_on_random_histories(tmp_path: Path, seed: int) -> None:
    repo = random_history(tmp_path / "repo", seed, 25)
    output = git_log(repo.root)
    expected = unidiffs(output)
    assert expected  # the history added lines
    assert ours(output) == expected
    assert ours(output, random.Random(seed).randint(1, 50)) == expected


def test_the_same_runs_as_unidiff_on_this_repositorys_history() -> None:
    if git(ROOT, "rev-parse", "--verify", "--quiet", "HEAD").returncode != 0:
        pytest.skip("not run from a git checkout")
    # The last 300 commits: every kind of change this project makes, in about a second.
    output = git_log(ROOT, "-n", "300", "HEAD")
    expected = unidiffs(output)
    assert len(expected) > 300
    assert ours(output, 1 << 16) == expected
