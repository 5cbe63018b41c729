"""Corpus cases from secretlint's rule snapshots and CredSweeper's samples, and the corpus README
(sources, commits, licences, what was taken, labeling, skips, counts).

Each reader labels only what the peer's own tests pin (an expected message, an expected
finding with its line numbers); what cannot be labeled that way is skipped and counted in the
README.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from typing import Any, Protocol

from scan_corpus_gitleaks import Skips, line_span, lines_of

__all__ = ["credsweeper_cases", "readme", "secretlint_cases"]

Case = dict[str, object]

SECRETLINT_ROOT = "packages/@secretlint"
# Rules that report a file's kind or a path, not a secret value (a .env file exists, a home
# directory path is written), plus the example rule, the user-pattern rule and the comment
# filter (whose outcome depends on configuration, not on the text).
SECRETLINT_EXCLUDED = {
    "secretlint-rule-no-dotenv": "reports a .env file's existence, not a secret",
    "secretlint-rule-no-homedir": "reports a home directory path, not a secret",
    "secretlint-rule-example": "the scaffold's example rule",
    "secretlint-rule-pattern": "user-defined patterns from its options",
    "secretlint-rule-filter-comments": "tests secretlint's disable comments, not detection",
}
# The presets rerun the rule packages' own snapshots with all their rules: the recommended
# preset's findings are added to those snapshots' labels; the canary preset's runs are not used.
PRESETS = ("secretlint-rule-preset-recommend", "secretlint-rule-preset-canary")
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
    all_files = set(mirror.files(SECRETLINT_ROOT))
    for path in sorted(all_files):
        parts = path.split("/")
        if len(parts) < 7 or parts[3:5] != ["test", "snapshots"]:
            continue
        if not parts[2].startswith("secretlint-rule-") or parts[2] in PRESETS:
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
        messages = list(output.get("messages", []))
        if case_name.startswith("ng.") and not messages:
            skips.add("secretlint: an ng. snapshot whose expected output has no message")
            continue
        # the recommended preset runs every rule over the same input: its findings count too
        preset = f"{SECRETLINT_ROOT}/secretlint-rule-preset-recommend/test/snapshots/{package}"
        if f"{preset}/{case_name}/output.json" in all_files:
            extra = json.loads(mirror.text(f"{preset}/{case_name}/output.json"))
            if extra.get("sourceContent") == text:
                skips.note("secretlint: Snapshots also labeled by the recommended preset's run")
                messages += extra.get("messages", [])
        spans = sorted({tuple(line_span(text, *m["range"])) for m in messages})
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


_TAKEN = {
    "gitleaks": (
        "`cmd/generate/config/rules/*.go`: each rule function's `tps` (true positives) and `fps` "
        "(false positives), evaluated from the Go source by a small expression reader "
        "(`bench/scan_corpus_golang.py`): string literals, `+`, `[]string{}`, "
        "`map[string]string{}` (rules validated with paths: the map key is the case's path), "
        "`append`, `fmt.Sprintf`, "
        "package-level variables, and the helpers of `cmd/generate/config/utils` read from the "
        "mirror (`GenerateSampleSecret(s)` templates, `AlphaNumeric` and friends). "
        "`secrets.NewSecret(regex)` draws a string matching the regex with a generator seeded by "
        "the rule function's name (`bench/scan_corpus_regen.py`; an unbounded repetition grows at "
        "most one step past its minimum, as gitleaks' own reggen call does).",
        "A tp string is one positive case: a one-line string is labeled [1, 1]; a multi-line one "
        "is labeled on the lines of its generated secret, else on the lines of the rule's secret "
        "group (the rule's regex, translated to Python `re`). An fp string is one negative case. "
        "Path: the sample template's kind (`<rule-id>.ini`, `.json`, `.xml`, `.yaml`, `.go`, "
        "`.py`, `.java`, `.kt`, `.cs`, `.php`, `.mk`, `.conf`), `.json`/`.xml` when the text is "
        "one, else `<rule-id>.txt`. `rule` is the gitleaks rule id. gitleaks writes each "
        "secret in up to 22 sample templates, so this source has many cases per rule.",
    ),
    "detect_secrets": (
        "`tests/plugins/*_test.py`: every `@pytest.mark.parametrize` table of a line (`payload`, "
        "`line`, `file_content`) and whether the plugin must flag it (`should_flag`, "
        "`expected_secret`; a one-column table is positive when its test asserts a finding), read "
        "with `ast` and an evaluator of literals (module constants, `+`, `%`, `str.format`); the "
        "keyword test's per-extension tables (path `keyword.<ext>`); the high-entropy test's "
        "(plugin, non_secret, secret) x (format, should_be_caught) table. Also "
        "`test_data/files/file_with_secrets.py`, `tmp/file_with_secrets.py` and "
        "`file_with_no_secrets.py`, whose findings `tests/core/baseline_test.py` pins (line 3; "
        "line 3; none). Left out: `test_data/config.ini`, `config.yaml`, `each_secret.py`, "
        "`config.env`: the tests that pin their lines run with lowered entropy limits or extra "
        "filters, so those lines are not a default-configuration ground truth.",
        "Positive iff the test says the plugin flags it; a one-line payload is [1, 1], a key "
        "block spans its BEGIN..END lines. Some negatives are negative only by detect-secrets' own "
        "rules (a keyword value without the quotes a language requires, an unquoted high-entropy "
        "string): kept as the tests label them. `rule` is the plugin's test module name (the "
        "detector class for the high-entropy table).",
    ),
    "secretlint": (
        "`packages/@secretlint/secretlint-rule-*/test/snapshots/<case>/`: the input file named by "
        "`output.json`'s `filePath`, with the expected messages. Excluded packages: "
        + "; ".join(f"`{k}` ({v})" for k, v in SECRETLINT_EXCLUDED.items())
        + ". The presets' reruns of those snapshots are not cases of their own. Snapshots run "
        "with non-default options (`.secretlintrc.json` or `options.ts`) are "
        "skipped, and binary inputs (PKCS#12).",
        "Each message's `range` (character offsets in the input) gives a [start_line, end_line] "
        "span, from the rule's own snapshot and from the same snapshot run by the recommended "
        "preset (every rule over the same input; they agree but for a second rule on the same "
        "line); a snapshot without messages is a negative case. Path: the input's own name "
        "(`input` without an extension becomes `input.txt`). `rule` is the secretlint package.",
    ),
    "credsweeper": (
        "`tests/samples/*` (every UTF-8 text sample; binary and non-UTF-8 samples skipped: "
        "archives, office documents, images, keystores, UTF-16 and Latin-1 patches). Samples "
        "are small, none was trimmed.",
        "The lines of `tests/data/output.json`, CredSweeper's expected findings in its default "
        "configuration with its ML filter: each finding's `line_num` is a span [n, n]; a key rule "
        "(PEM, private key) spans its first..last reported line. A sample with no expected "
        "finding is a negative case. These labels are CredSweeper's own expected output, not an "
        "independent ground truth. Path: the sample's own file name (often without an extension, "
        "as CredSweeper's tests name them). `rule`: CredSweeper's rule names for the file.",
    ),
}


def readme(mirrors: Mapping[str, Source], counts: dict[str, dict[str, int]], skips: Skips) -> str:
    out = [
        "# Labeled evaluation corpus of the pattern scanner (issue 22)",
        "",
        "Written by `bench/scan_corpus.py` (do not edit by hand: re-run it). One JSON object per",
        "line: `id`, `source`, `rule` (the peer's rule or plugin, or null), `path` (a file name;",
        "scanners look at extensions), `text` (the whole file), `secrets` (1-based",
        "[start_line, end_line] spans, lines split on `\\n` only; empty for a negative case).",
        "The peers' fixtures are used under their licences (below); every value is a test",
        "fixture or randomly drawn, none is a real credential. `.ci/run`'s dogfood scan excludes",
        "`tests/`.",
        "",
        "| source | cases | positive cases | positive spans | negative cases |",
        "|---|---|---|---|---|",
    ]
    for name, c in counts.items():
        out.append(
            f"| {name} | {c['cases']} | {c['positive_cases']} | {c['positive_spans']} "
            f"| {c['negatives']} |"
        )
    out.append("")
    for name, mirror in mirrors.items():
        taken, labeled = _TAKEN[name]
        out += [
            f"## {name}",
            "",
            f"- Repository: https://github.com/{mirror.repo}, commit `{mirror.commit}`",
            f"- Licence: {mirror.licence()}",
            f"- Taken: {taken}",
            f"- Labeled: {labeled}",
        ]
        prefix = f"{name}: "
        for what, n in sorted(skips.notes.items()):
            if what.startswith(prefix):
                out.append(f"- {what.removeprefix(prefix)}: {n}")
        for reason, n in sorted(skips.reasons.items()):
            if reason.startswith(prefix):
                out.append(f"- Skipped {n}: {reason.removeprefix(prefix)}")
        out.append("")
    out += [
        "## own",
        "",
        "- Written for this corpus (`bench/scan_corpus_own.py`, `scan_corpus_own_negatives.py`,",
        "  values from `scan_corpus_tokens.py`): positives are realistic files (.env,",
        "  docker-compose, Kubernetes Secret, curl -u, Authorization headers, database URLs,",
        "  Django/Flask settings, Terraform, AWS credentials, a GCP service account, PEM and",
        "  OpenSSH private keys, JWTs, and service tokens in their issuers' formats: GitHub",
        "  (with its CRC32 checksum), Slack, Stripe, OpenAI, Twilio, SendGrid, npm, PyPI,",
        "  Hugging Face, Anthropic, GitLab), each in 3 seeded variants; negatives are",
        "  placeholders, documentation example keys and lookalikes (UUIDs, git SHAs, lock-file",
        "  hashes, encoded images and fonts, public keys and certificates, i18n strings).",
        "- Labeled: by construction, the lines holding each secret.",
        "",
    ]
    return "\n".join(out)
