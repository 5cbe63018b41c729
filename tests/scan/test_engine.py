"""Whole scans: files (text and binary), a stream, git history; both detectors together."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from stacksafe.model import SecretValue
from stacksafe.scan import (
    Detectors,
    Finding,
    KnownValues,
    Location,
    scan_git,
    scan_paths,
    scan_stream,
)
from stacksafe.scan import patterns as pattern_scanner
from stacksafe.scan.known import CHUNK_SIZE
from tests.scan.gitrepo import GitRepo

KEY = b"e" * 32
VALUE = "Pr0d-db-passw0rd-1234"
AWS = "AKIAZZZZZZZZZZZZZZZZ"
DB = Location("acme", "web", "DB_PASSWORD")


def detectors(
    *, patterns: bool = True, include_binary: bool = False, workers: int = 1
) -> Detectors:
    known = KnownValues([(DB, SecretValue(VALUE))])
    return Detectors(KEY, known, patterns, include_binary, workers=workers)


def summary(found: list[Finding]) -> list[tuple[str, str, int]]:
    return [(f.rule, f.path, f.line) for f in found]


def test_files_both_detectors(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text(f"DB={VALUE}\n")
    (tmp_path / "b.py").write_text(f'\nkey = "{AWS}"\n')
    (tmp_path / "clean.txt").write_text("nothing\n")
    result = scan_paths([str(tmp_path)], detectors())
    assert [(f.rule, Path(f.path).name, f.line) for f in result.findings] == [
        ("known-value", "a.env", 1),
        ("aws-access-key", "b.py", 2),
    ]
    assert result.files == 3


def test_binary_files_are_skipped_unless_asked_for_known_values(tmp_path: Path) -> None:
    blob = tmp_path / "dump.bin"
    blob.write_bytes(b"\x00\x01" + VALUE.encode() + b"\x00" + AWS.encode())
    skipped = scan_paths([str(blob)], detectors())
    assert skipped.findings == []
    assert skipped.binary_skipped == [str(blob)]
    included = scan_paths([str(blob)], detectors(include_binary=True))
    assert [f.rule for f in included.findings] == ["known-value"]  # patterns: text only


def test_large_file_value_across_chunks(tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    big.write_bytes(b"a" * (CHUNK_SIZE * 2 - 5) + VALUE.encode() + b"\n")
    result = scan_paths([str(big)], detectors(patterns=False))
    assert [(f.line, f.column) for f in result.findings] == [(1, CHUNK_SIZE * 2 - 4)]
    assert result.bytes == big.stat().st_size


def test_stream_both_detectors_with_line_numbers() -> None:
    lines = [b"x"] * 30_000
    lines[25_000] = VALUE.encode()
    lines[29_999] = f"k={AWS}".encode()
    stream = io.BytesIO(b"\n".join(lines))  # no final newline
    result = scan_stream(stream, detectors(), "stdin")
    assert summary(result.findings) == [
        ("known-value", "stdin", 25_001),
        ("aws-access-key", "stdin", 30_000),
    ]


def test_git_history_names_commits(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    leaked = repo.commit("leak", **{"conf/db.env": f"USER=app\nPASSWORD={VALUE}\n"})
    repo.commit("remove", **{"conf/db.env": "USER=app\n"})
    aws = repo.commit("aws", **{"deploy.sh": f"export KEY={AWS}\n"})
    repo.write("staged.txt", f"again {VALUE}\n")
    repo.stage("staged.txt")
    result = scan_git(repo.root, detectors())
    assert result.commits == 3
    assert [(f.rule, f.path, f.line, f.commit) for f in result.findings] == [
        ("known-value", "staged.txt", 1, None),
        ("aws-access-key", "deploy.sh", 1, aws),
        ("known-value", "conf/db.env", 2, leaked),
    ]
    since = scan_git(repo.root, detectors(), since=leaked)
    assert [(f.path, f.commit) for f in since.findings] == [
        ("staged.txt", None),
        ("deploy.sh", aws),
    ]


def test_git_exclusions(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("leaks", **{"fixtures/a.env": f"{VALUE}\n", "b.sh": f"K={AWS}\n{VALUE}\n"})
    result = scan_git(repo.root, detectors(), exclude=["fixtures", "*.sh"])
    assert result.findings == []
    kept = scan_git(repo.root, detectors(), exclude=["fixtures"])
    assert summary(kept.findings) == [("aws-access-key", "b.sh", 1), ("known-value", "b.sh", 2)]


def test_a_managed_value_a_rule_also_matches_is_reported_once_as_managed(tmp_path: Path) -> None:
    (tmp_path / "db.env").write_text(f"DB_PASSWORD={VALUE}\n")
    patterns_only = scan_paths([str(tmp_path)], Detectors(KEY, None, True, workers=1))
    assert summary(patterns_only.findings)[0][0] == "generic-password"
    both = scan_paths([str(tmp_path)], detectors())
    assert [(f.rule, f.line, f.column) for f in both.findings] == [("known-value", 1, 13)]


def test_stream_finds_a_key_cut_by_a_block_boundary_and_counts_lines_after_long_ones() -> None:
    # 100-byte lines, then the PEM block's 33-byte lines: the first block ends at the last
    # whole line of 2 MiB, inside the PEM block; a line over 1 MiB is cut and counts as one.
    pem = "-----BEGIN RSA PRIVATE KEY-----\n" + "Tq2Lw8Zp4Rv7Ym1Nc6Kb0Hd5Js3Gf9Xa\n" * 30
    pem += "-----END RSA PRIVATE KEY-----\n"
    text = ("y" * 99 + "\n") * 20_966 + pem + "z" * (3 << 20) + f" {AWS}\n" + f"k={AWS}\n"
    result = scan_stream(io.BytesIO(text.encode()), detectors(patterns=True), "stdin")
    assert text.index("-----BEGIN") < 2 * CHUNK_SIZE < text.index("-----END")
    long_line = 20_966 + 33
    assert [(f.rule, f.line, f.column) for f in result.findings] == [
        ("private-key", 20_967, 32),
        ("aws-access-key", long_line, (3 << 20) + 2),
        ("aws-access-key", long_line + 1, 3),
    ]


def test_stream_finds_once_a_token_that_cuts_a_long_line_in_two() -> None:
    # stdin is read 1 MiB at a time and a line is cut once over 1 MiB: here after 2 MiB of
    # input, 10 bytes into the token. The next piece repeats the piece's last bytes, so it
    # holds the token whole, at the column a file scan reports.
    cut = 2 * CHUNK_SIZE - len("first\n")
    before = "é" * 10 + "z" * (cut - 10 - 20 - 1) + " "  # "é" is 2 bytes
    text = f"first\n{before}{AWS} and {AWS} " + "q" * CHUNK_SIZE + "\n"
    result = scan_stream(io.BytesIO(text.encode()), detectors(patterns=True), "stdin")
    column = len(before) + 1
    assert [(f.rule, f.line, f.column) for f in result.findings] == [
        ("aws-access-key", 2, column),
        ("aws-access-key", 2, column + len(AWS) + 5),
    ]


def test_git_history_in_worker_processes_finds_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A history past the pool's threshold goes to worker processes as git writes it (here a
    threshold of a few bytes): the same findings, commits and order as in this process."""
    repo = GitRepo(tmp_path / "repo")
    for n in range(4):
        repo.commit(f"c{n}", **{f"f{n}.sh": "filler\n" * n + f"export KEY={AWS}\n"})
    alone = scan_git(repo.root, detectors(workers=1))
    assert pattern_scanner._worker.rules is not None  # the rules ran here
    monkeypatch.setattr(pattern_scanner._worker, "rules", None)
    monkeypatch.setattr(pattern_scanner, "_POOL_AFTER", 10)
    monkeypatch.setattr(pattern_scanner, "_BYTES_PER_TASK", 30)
    pooled = scan_git(repo.root, detectors(workers=2))
    assert pattern_scanner._worker.rules is None  # not here: in the workers
    assert [(f.rule, f.path, f.line, f.commit) for f in alone.findings] == [
        (f.rule, f.path, f.line, f.commit) for f in pooled.findings
    ]
    assert [f.line for f in pooled.findings] == [4, 3, 2, 1]  # newest commit first
    assert pooled.commits == alone.commits == 4
