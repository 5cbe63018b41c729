"""The pattern detector: detect-secrets' plugins in worker processes, matched text kept there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stacksafe.scan.findings import Finding, rule_id
from stacksafe.scan.patterns import PatternScanner, added_lines_patch

KEY = b"p" * 32
# Fakes shaped like real credentials (detect-secrets' own test data uses the same shapes).
AWS = "AKIAZZZZZZZZZZZZZZZZ"
GITHUB = "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"
PRIVATE = "-----BEGIN RSA PRIVATE KEY-----"
ENTROPY = "c2VjcmV0LXRoYXQtbG9va3MtcmFuZG9tLWFuZC1pcy1sb25n0x9Zq"


@pytest.fixture(scope="module")
def scanner() -> Iterator[PatternScanner]:
    with PatternScanner(KEY, workers=1) as pool:
        yield pool


def lines_scan(scanner: PatternScanner, *lines: str) -> list[Finding]:
    scanner.add_lines("stdin", 1, [line + "\n" for line in lines])
    return scanner.results()


@pytest.mark.parametrize(
    ("payload", "rule"),
    [
        (f'aws_access_key_id = "{AWS}"', "aws-access-key"),
        (f"token: {GITHUB}", "github-token"),
        (PRIVATE, "private-key"),
        (f'blob = "{ENTROPY}"', "base64-high-entropy-string"),
        ('db_password = "n0t-a-real-but-flagged-pw"', "secret-keyword"),
    ],
)
def test_flags_secret_shapes(scanner: PatternScanner, payload: str, rule: str) -> None:
    found = lines_scan(scanner, "nothing here", payload)
    assert rule in {f.rule for f in found}
    assert all(f.line == 2 and f.path == "stdin" for f in found)


@pytest.mark.parametrize(
    "payload",
    [
        "hello world, nothing to see",
        'password = "${DB_PASSWORD}"',  # templated, filtered by detect-secrets
        f'aws = "{AWS}"  # pragma: allowlist secret',
        "id = 123e4567-e89b-12d3-a456-426614174000",
    ],
)
def test_does_not_flag(scanner: PatternScanner, payload: str) -> None:
    assert lines_scan(scanner, payload) == []


def test_files_report_line_column_and_display_path(scanner: PatternScanner, tmp_path: Path) -> None:
    path = tmp_path / "config.py"
    path.write_text(f'x = 1\nkey = "{AWS}"\n')
    scanner.add_file(str(path), "shown/config.py", path.stat().st_size)
    found = scanner.results()
    assert [(f.rule, f.path, f.line, f.column) for f in found] == [
        ("aws-access-key", "shown/config.py", 2, 8)
    ]


def test_patches_report_paths_lines_and_commit(scanner: PatternScanner) -> None:
    patch = (
        "diff --git a/gone.txt b/gone.txt\n--- a/gone.txt\n+++ b/gone.txt\n"
        f"@@ -3,0 +4,2 @@\n+plain\n+key = {AWS}\n"
    )
    scanner.add_patch(patch, "c0ffee")
    found = scanner.results()
    assert [(f.rule, f.path, f.line, f.commit) for f in found] == [
        ("aws-access-key", "gone.txt", 5, "c0ffee")
    ]


def test_findings_never_hold_the_matched_text(scanner: PatternScanner) -> None:
    found = lines_scan(scanner, f"a = {AWS}", f"b = {GITHUB}")
    assert len(found) >= 2
    for finding in found:
        assert AWS not in repr(finding)
        assert GITHUB not in repr(finding)
        assert AWS not in str(finding.to_json())
        assert GITHUB not in str(finding.to_json())


def test_the_same_text_on_two_paths_has_two_fingerprints(scanner: PatternScanner) -> None:
    scanner.add_lines("a.txt", 1, [f"k = {AWS}\n"])
    scanner.add_lines("b.txt", 1, [f"k = {AWS}\n"])
    scanner.add_lines("a.txt", 9, [f"other = {AWS}\n"])
    found = [f for f in scanner.results() if f.rule == "aws-access-key"]
    assert len(found) == 3
    assert found[0].fingerprint != found[1].fingerprint
    assert found[0].fingerprint == found[2].fingerprint


def test_added_lines_patch_numbers_lines_from_first_line() -> None:
    patch = added_lines_patch("stdin", 7, ["a\n", "b\n"])
    assert patch == "--- /dev/null\n+++ b/stdin\n@@ -0,0 +7,2 @@\n+a\n+b\n"


def test_rule_ids() -> None:
    assert rule_id("AWS Access Key") == "aws-access-key"
    assert rule_id("Public IP (ipv4)") == "public-ip-ipv4"


def test_a_scanner_given_nothing_starts_no_process() -> None:
    with PatternScanner(KEY) as idle:
        assert idle.results() == []
        assert idle._pool is None
