"""Baselines: keyed fingerprints only, a round trip through the file, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue
from stacksafe.scan.baseline import KEY_BYTES, Baseline
from stacksafe.scan.findings import Finding, Location, fingerprint
from stacksafe.scan.known import KnownValues

VALUE = "Sup3r-s3cret-pw"


def findings(baseline: Baseline, text: bytes, path: str = "app.env") -> list[Finding]:
    known = KnownValues([(Location("acme", None, "DB"), SecretValue(VALUE))])
    return known.scan_bytes(text, path, baseline.key)


def test_round_trip_accepts_exactly_what_was_saved(tmp_path: Path) -> None:
    file = tmp_path / "baseline.json"
    baseline = Baseline.new()
    first = findings(baseline, f"a={VALUE}\n".encode())
    baseline.accepting(first).save(file)
    loaded = Baseline.load(file)
    assert loaded.key == baseline.key
    assert len(loaded.key) == KEY_BYTES
    # The same text moved to another line is still accepted; the same text in another file
    # or a new text is not.
    moved = findings(loaded, f"\n\nb={VALUE}\n".encode())
    elsewhere = findings(loaded, f"a={VALUE}\n".encode(), path="other.env")
    new, accepted = loaded.split([*moved, *elsewhere])
    assert accepted == moved
    assert new == elsewhere


def test_the_file_holds_no_value(tmp_path: Path) -> None:
    file = tmp_path / "baseline.json"
    baseline = Baseline.new()
    baseline.accepting(findings(baseline, VALUE.encode())).save(file)
    text = file.read_text()
    assert VALUE not in text
    data = json.loads(text)
    assert data["format"] == "stacksafe-scan-baseline"
    assert data["accepted"] == [
        {
            "path": "app.env",
            "rule": "known-value",
            "fingerprint": fingerprint(baseline.key, "known-value", "app.env", VALUE.encode()),
        }
    ]
    assert VALUE not in repr(baseline)
    assert baseline.key.hex() not in repr(baseline)


def test_keys_are_random_so_fingerprints_differ_between_baselines() -> None:
    a, b = Baseline.new(), Baseline.new()
    assert a.key != b.key
    assert findings(a, VALUE.encode())[0].fingerprint != findings(b, VALUE.encode())[0].fingerprint


def test_load_or_new(tmp_path: Path) -> None:
    assert Baseline.load_or_new(tmp_path / "absent.json").entries == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not JSON"),
        ('{"format": "other"}', "is not a stacksafe-scan-baseline file"),
        (
            '{"format": "stacksafe-scan-baseline", "version": 1, "key": "!!", "accepted": []}',
            "is not a stacksafe-scan-baseline file",
        ),
        (
            '{"format": "stacksafe-scan-baseline", "version": 1, "key": "YWJj", "accepted": []}',
            "has a key of 3 bytes",
        ),
    ],
)
def test_malformed_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    file = tmp_path / "baseline.json"
    file.write_text(content)
    with pytest.raises(InvalidInput, match=message):
        Baseline.load(file)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read baseline"):
        Baseline.load(tmp_path / "absent.json")
