"""The pattern detector: the catalogue's rules over files, added lines and streams, in this
process or in worker processes; the matched text never leaves the scanner."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacksafe.scan import patterns
from stacksafe.scan.patterns import PatternScanner

KEY = b"p" * 32
# Fakes shaped like real credentials.
AWS = "AKIA" + "QYLPMN5HZX2W3E7R"
PEM_BODY = "MIIEowIBAAKCAQEAx3k9" + "Tq2Lw8Zp4Rv7Ym1Nc6Kb0Hd5Js3Gf9Xa" * 4
PRIVATE = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n"


def scan_lines(*lines: str, workers: int = 1) -> list[tuple[str, str, int, int | None]]:
    with PatternScanner(KEY, workers=workers) as scanner:
        scanner.add_lines("stdin", 1, [line + "\n" for line in lines])
        return [(f.rule, f.path, f.line, f.column) for f in scanner.results()]


def test_files_report_rule_line_column_and_display_path(tmp_path: Path) -> None:
    path = tmp_path / "config.py"
    path.write_text(f'x = 1\nkey = "{AWS}"\n' + PRIVATE)
    with PatternScanner(KEY, workers=1) as scanner:
        scanner.add_file(str(path), "shown/config.py", path.stat().st_size)
        found = [(f.rule, f.path, f.line, f.column) for f in scanner.results()]
    assert ("aws-access-key", "shown/config.py", 2, 8) in found
    assert next(f for f in found if f[0] == "private-key")[2] in (3, 4)


def test_added_text_is_numbered_from_its_first_line_with_its_commit() -> None:
    with PatternScanner(KEY, workers=1) as scanner:
        scanner.add_text("gone.txt", f"plain\nkey = {AWS}\n".encode(), 4, "c0ffee")
        found = [(f.rule, f.path, f.line, f.commit) for f in scanner.results()]
    assert found == [("aws-access-key", "gone.txt", 5, "c0ffee")]


def test_an_unreadable_file_is_skipped(tmp_path: Path) -> None:
    with PatternScanner(KEY, workers=1) as scanner:
        scanner.add_file(str(tmp_path / "gone"), "gone", 10)
        assert scanner.results() == []


def test_findings_never_hold_the_matched_text(tmp_path: Path) -> None:
    with PatternScanner(KEY, workers=1) as scanner:
        scanner.add_lines("stdin", 1, [f"a = {AWS}\n", PRIVATE])
        found = scanner.results()
    assert {f.rule for f in found} >= {"aws-access-key", "private-key"}
    for finding in found:
        for text in (AWS, PEM_BODY[:40]):
            assert text not in repr(finding)
            assert text not in str(finding.to_json())


def test_the_same_text_on_two_paths_has_two_fingerprints() -> None:
    with PatternScanner(KEY, workers=1) as scanner:
        scanner.add_lines("a.txt", 1, [f"k = {AWS}\n"])
        scanner.add_lines("b.txt", 1, [f"k = {AWS}\n"])
        scanner.add_lines("a.txt", 9, [f"other = {AWS}\n"])
        found = [f for f in scanner.results() if f.rule == "aws-access-key"]
    assert len(found) == 3
    assert found[0].fingerprint != found[1].fingerprint
    assert found[0].fingerprint == found[2].fingerprint


def test_disabled_rules_do_not_run() -> None:
    with PatternScanner(KEY, workers=1, disabled=["aws-access-key"]) as scanner:
        scanner.add_lines("stdin", 1, [f"k = {AWS}\n", PRIVATE])
        assert {f.rule for f in scanner.results()} == {"private-key"}


def test_large_inputs_go_to_worker_processes_with_the_same_findings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = []
    for n in range(6):
        path = tmp_path / f"f{n}.env"
        path.write_text("filler line\n" * n + f"AWS_KEY={AWS}\n")
        files.append(path)

    def run(workers: int) -> tuple[list[tuple[str, str, int, str]], bool]:
        with PatternScanner(KEY, workers=workers, disabled=["private-key"]) as scanner:
            for path in files:
                scanner.add_file(str(path), path.name, path.stat().st_size)
            pooled = scanner._pool is not None
            found = sorted((f.rule, f.path, f.line, f.fingerprint) for f in scanner.results())
        return found, pooled

    in_process, pooled = run(workers=2)
    assert not pooled
    monkeypatch.setattr(patterns, "_POOL_AFTER", 10)
    monkeypatch.setattr(patterns, "_BYTES_PER_TASK", 40)
    in_pool, pooled = run(workers=2)
    assert pooled
    assert in_pool == in_process
    assert [line for _, _, line, _ in in_pool] == [1, 2, 3, 4, 5, 6]


def test_a_scanner_given_nothing_starts_no_process() -> None:
    with PatternScanner(KEY) as idle:
        assert idle.results() == []
        assert idle._pool is None


def test_eager_inputs_are_scanned_here_as_they_come_a_task_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``eager`` (a history, while git writes it): each task's worth is scanned when it is
    complete, not all at ``results()``; without it, nothing is scanned before ``results()``."""
    monkeypatch.setattr(patterns, "_BYTES_PER_TASK", 100)
    scanned: list[int] = []
    scan = patterns._scan

    def counted(texts: list[patterns._Text]) -> list[patterns._Hit]:
        scanned.append(len(texts))
        return scan(texts)

    monkeypatch.setattr(patterns, "_scan", counted)
    text = f"filler {'x' * 40}\nKEY={AWS}\n".encode()  # 70 bytes: two make a task
    for eager in (True, False):
        scanned.clear()
        with PatternScanner(KEY, workers=1, eager=eager) as scanner:
            for commit in ("c1", "c2", "c3"):
                scanner.add_text("k.env", text, 1, commit)
            before = list(scanned)
            found = [(f.rule, f.line, f.commit) for f in scanner.results()]
        assert before == ([2] if eager else [])
        assert scanned == ([2, 1] if eager else [3])
        assert found == [("aws-access-key", 2, c) for c in ("c1", "c2", "c3")]
