"""Corpus cases from secretlint's rule snapshots, detect-secrets' plugin tests and CredSweeper's
samples, and the corpus README (sources, commits, licences, labeling, skips, counts).

Each reader labels only what the peer's own tests pin (an expected message, a ``should_flag``,
an expected finding with its line numbers); what cannot be labeled that way is skipped and
counted in the README.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from typing import Any, Protocol

from scan_corpus_detect_secrets import detect_secrets_cases
from scan_corpus_gitleaks import Skips, line_span, lines_of

__all__ = ["credsweeper_cases", "detect_secrets_cases", "readme", "secretlint_cases"]

Case = dict[str, object]

SECRETLINT_ROOT = "packages/@secretlint"
# Rules that report a file's kind or a path, not a secret value (a .env file exists, a home
# directory path is written), plus the example rule, the user-pattern rule and the comment
# filter (whose outcome depends on configuration, not on the text); presets only repeat the
# rule packages' own snapshots.
SECRETLINT_EXCLUDED = {
    "secretlint-rule-no-dotenv": "reports a .env file's existence, not a secret",
    "secretlint-rule-no-homedir": "reports a home directory path, not a secret",
    "secretlint-rule-example": "the scaffold's example rule",
    "secretlint-rule-pattern": "user-defined patterns from its options",
    "secretlint-rule-filter-comments": "tests secretlint's disable comments, not detection",
    "secretlint-rule-preset-recommend": "repeats the rule packages' snapshots",
    "secretlint-rule-preset-canary": "repeats the rule packages' snapshots",
}
_SNAPSHOT_META = {"output.json", ".secretlintrc.json", "options.ts", "README.md", ".gitignore"}


class Source(Protocol):
    repo: str
    commit: str

    def files(self, under: str) -> list[str]: ...
    def blob(self, path: str) -> bytes: ...
    def text(self, path: str) -> str: ...
    def licence(self) -> str: ...


def secretlint_cases(mirror: Source, skips: Skips) -> list[Case]:
    snapshots: dict[str, list[str]] = {}
    for path in mirror.files(SECRETLINT_ROOT):
        parts = path.split("/")
        if len(parts) < 7 or parts[3:5] != ["test", "snapshots"]:
            continue
        if not parts[2].startswith("secretlint-rule-"):
            continue
        snapshots.setdefault("/".join(parts[:6]), []).append(parts[-1])
    cases: list[Case] = []
    for snap, names in sorted(snapshots.items()):
        package, case_name = snap.split("/")[2], snap.split("/")[5]
        if package in SECRETLINT_EXCLUDED:
            skips.add(f"secretlint: {package} ({SECRETLINT_EXCLUDED[package]})")
            continue
        if ".secretlintrc.json" in names or "options.ts" in names:
            skips.add("secretlint: snapshot run with non-default rule options")
            continue
        if "output.json" not in names:
            skips.add("secretlint: snapshot without output.json")
            continue
        output: dict[str, Any] = json.loads(mirror.text(f"{snap}/output.json"))
        input_name = posixpath.basename(str(output.get("filePath", "")))
        if input_name not in names or input_name in _SNAPSHOT_META:
            skips.add("secretlint: input file not found beside output.json")
            continue
        try:
            text = mirror.text(f"{snap}/{input_name}")
        except UnicodeDecodeError:
            skips.add("secretlint: binary input (PKCS#12 and the like)")
            continue
        if output.get("sourceContent") != text:
            skips.add("secretlint: input differs from the snapshot's sourceContent")
            continue
        spans = sorted({tuple(line_span(text, *m["range"])) for m in output.get("messages", [])})
        path = input_name if "." in input_name.lstrip(".") else f"{input_name}.txt"
        if input_name.startswith(".") and "." not in input_name[1:]:
            path = input_name  # .env, .npmrc: the dot file's name is its kind
        cases.append(
            {
                "id": f"secretlint/{package.removeprefix('secretlint-rule-')}/{case_name}",
                "source": "secretlint",
                "rule": f"@secretlint/{package}",
                "path": path,
                "text": text,
                "secrets": [list(s) for s in spans],
            }
        )
    return cases


CREDSWEEPER_SAMPLES = "tests/samples"
CREDSWEEPER_EXPECTED = "tests/data/output.json"
# Rules whose one finding is a block over several lines (a key); other findings label their lines.
_BLOCK_RULES = ("PEM", "Private Key", "Key Pair")


def credsweeper_cases(mirror: Source, skips: Skips) -> list[Case]:
    """Every UTF-8 text sample, labeled with the lines CredSweeper's default run (with its ML
    filter) is expected to report in tests/data/output.json."""
    expected: list[dict[str, Any]] = json.loads(mirror.text(CREDSWEEPER_EXPECTED))
    spans: dict[str, set[tuple[int, int]]] = {}
    rules: dict[str, set[str]] = {}
    for item in expected:
        lines = item["line_data_list"]
        path = str(lines[0]["path"]).removeprefix("./")
        nums = sorted(int(d["line_num"]) for d in lines)
        rules.setdefault(path, set()).add(str(item["rule"]))
        if any(word in str(item["rule"]) for word in _BLOCK_RULES):
            spans.setdefault(path, set()).add((nums[0], nums[-1]))
        else:
            spans.setdefault(path, set()).update((n, n) for n in nums)
    cases: list[Case] = []
    for path in mirror.files(CREDSWEEPER_SAMPLES):
        data = mirror.blob(path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            skips.add("credsweeper: binary or non-UTF-8 sample (archives, documents, images...)")
            continue
        if "\0" in text:
            skips.add("credsweeper: binary or non-UTF-8 sample (archives, documents, images...)")
            continue
        found = sorted(spans.get(path, set()))
        count = len(lines_of(text))
        if any(not 1 <= a <= b <= count for a, b in found):
            skips.add("credsweeper: expected line outside the sample")
            continue
        name = path.removeprefix(f"{CREDSWEEPER_SAMPLES}/")
        cases.append(
            {
                "id": f"credsweeper/{name}",
                "source": "credsweeper",
                "rule": ", ".join(sorted(rules[path])) if path in rules else None,
                "path": name,
                "text": text,
                "secrets": [list(s) for s in found],
            }
        )
    return cases


def readme(mirrors: Mapping[str, Source], counts: dict[str, dict[str, int]], skips: Skips) -> str:
    lines = ["# Labeled evaluation corpus of the pattern scanner (issue 22)", ""]
    for name, mirror in mirrors.items():
        lines.append(f"- {name}: {mirror.repo} @ {mirror.commit} ({mirror.licence()})")
    lines.append("")
    for name, c in counts.items():
        lines.append(f"- {name}: {c}")
    for reason, n in sorted(skips.reasons.items()):
        lines.append(f"- skipped {n}: {reason}")
    return "\n".join(lines) + "\n"
