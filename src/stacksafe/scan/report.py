"""Reporters: text for people, JSON for scripts, SARIF 2.1.0 for code-scanning UIs.

None of them can show a matched text: findings do not hold it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from enum import StrEnum
from pathlib import PurePosixPath
from urllib.parse import quote

from stacksafe import __version__
from stacksafe.scan.findings import KNOWN_VALUE, Finding

__all__ = ["SARIF_SCHEMA", "ReportFormat", "render", "render_json", "render_sarif", "render_text"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"


def _where(finding: Finding) -> str:
    place = f"{finding.path}:{finding.line}"
    if finding.column is not None:
        place += f":{finding.column}"
    if finding.commit is not None:
        place = f"{finding.commit[:12]}:{place}"
    return place


def render_text(findings: Sequence[Finding]) -> str:
    """One line per finding: ``[commit:]path:line[:column]: rule: message``."""
    return "".join(f"{_where(f)}: {f.rule}: {f.message()}\n" for f in findings)


def render_json(findings: Sequence[Finding], summary: dict[str, object]) -> str:
    return (
        json.dumps(
            {"findings": [f.to_json() for f in findings], "summary": summary},
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )


def _uri(path: str) -> str:
    # A file name that is not UTF-8 holds surrogate escapes (its raw bytes): percent-encode those
    # bytes, as a URI spells any byte, rather than fail to encode them.
    posix = path if path.startswith("/") else PurePosixPath(path).as_posix()
    quoted = quote(posix.encode("utf-8", "surrogateescape"))
    return "file://" + quoted if path.startswith("/") else quoted


def _rule(rule: str, description: str) -> dict[str, object]:
    if rule == KNOWN_VALUE:
        short = "A secret value managed by stacksafe appears in plain text"
        full = (
            "The exact value of a secret stored in stacksafe was found. Rotate the secret "
            "(its value is now exposed wherever this file went) and remove it from the file."
        )
    else:
        short = f"Possible secret: {description}"
        full = f"The pattern rule {rule} ({description}) matched this line."
    return {
        "id": rule,
        "name": "".join(part.capitalize() for part in rule.split("-")),
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "defaultConfiguration": {"level": _level(rule)},
    }


def _level(rule: str) -> str:
    return "error" if rule == KNOWN_VALUE else "warning"


# The key of SARIF's partialFingerprints: code-scanning services match a result across runs by it.
FINGERPRINT_NAME = "stacksafe/v1"


def _partial_fingerprints(findings: Sequence[Finding], keyed: bool) -> list[str]:
    """One stable identifier per finding, for code-scanning de-duplication.

    With a baseline (``keyed``) the finding's own fingerprint: the baseline's key makes it
    stable across runs, and a changed secret is a new result. Without one the key is random per
    run, so the identifier is a hash of what is not secret: the rule, the path, the commit and
    the finding's rank among that rule's findings in that file (stable when lines move).
    """
    if keyed:
        return [f.fingerprint for f in findings]
    seen: dict[tuple[str, str, str], int] = {}
    prints: list[str] = []
    for f in findings:
        place = (f.rule, f.path, f.commit or "")
        rank = seen[place] = seen.get(place, -1) + 1
        framed = "\x00".join((*place, str(rank))).encode("utf-8", "surrogateescape")
        prints.append(hashlib.sha256(framed).hexdigest())
    return prints


def _result(finding: Finding, index: int, partial: str) -> dict[str, object]:
    region: dict[str, int] = {"startLine": finding.line}
    if finding.column is not None:
        region["startColumn"] = finding.column
    result: dict[str, object] = {
        "ruleId": finding.rule,
        "ruleIndex": index,
        "level": _level(finding.rule),
        "message": {"text": finding.message()},
        "partialFingerprints": {FINGERPRINT_NAME: partial},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(finding.path)},
                    "region": region,
                }
            }
        ],
    }
    properties: dict[str, object] = {}
    if finding.commit is not None:
        properties["commit"] = finding.commit
    if finding.is_known_value:
        properties["secrets"] = [loc.to_json() for loc in finding.locations]
    if properties:
        result["properties"] = properties
    return result


def render_sarif(findings: Sequence[Finding], keyed: bool = False) -> str:
    """A SARIF 2.1.0 log with one run; columns count Unicode code points; ``keyed``: the
    findings' fingerprints are under a baseline's key (see ``_partial_fingerprints``)."""
    rules: dict[str, int] = {}
    descriptors: list[dict[str, object]] = []
    for finding in findings:
        if finding.rule not in rules:
            rules[finding.rule] = len(descriptors)
            descriptors.append(_rule(finding.rule, finding.description))
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "stacksafe",
                        "version": __version__,
                        "rules": descriptors,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": [
                    _result(f, rules[f.rule], partial)
                    for f, partial in zip(
                        findings, _partial_fingerprints(findings, keyed), strict=True
                    )
                ],
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def render(
    fmt: ReportFormat,
    findings: Sequence[Finding],
    summary: dict[str, object],
    *,
    keyed: bool = False,
) -> str:
    if fmt is ReportFormat.json:
        return render_json(findings, summary)
    if fmt is ReportFormat.sarif:
        return render_sarif(findings, keyed)
    return render_text(findings)
