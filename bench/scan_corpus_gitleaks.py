"""Corpus cases from gitleaks' rule definitions: every rule's ``tps`` (true positives) and
``fps`` (false positives), evaluated from ``cmd/generate/config/rules/*.go``.

The helpers those examples are built with are read from the mirror itself where they are plain
(``utils.Numeric`` and friends, ``GenerateSampleSecret``, the sample templates of
``GenerateSampleSecrets``); random parts (``secrets.NewSecret``) are drawn with a generator seeded
by the rule function's name, so the output is the same at every run.
"""

from __future__ import annotations

import base64
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from scan_corpus_golang import (
    Evaluator,
    Function,
    Helper,
    Token,
    Unevaluable,
    functions,
    outside_functions,
    split_top,
    statements,
    tokenize,
    unquote,
)
from scan_corpus_regen import generate

RULES_DIR = "cmd/generate/config/rules"
UTILS_DIR = "cmd/generate/config/utils"

# File extension per GenerateSampleSecrets template family (the first word of its name), so a
# sample's path says what the text is (a scanner may look at the extension).
_TEMPLATE_EXT = {
    "ini": "ini",
    "json": "json",
    "xml": "xml",
    "yaml": "yaml",
    "c#": "cs",
    "go": "go",
    "java": "java",
    "kotlin": "kt",
    "php": "php",
    "python": "py",
    "logstash": "conf",
    "make": "mk",
}


class Sample(str):
    """A generated example string that knows the secret inside it and its template family."""

    secret: str
    ext: str

    def __new__(cls, text: str, secret: str, ext: str) -> Sample:
        obj = super().__new__(cls, text)
        obj.secret = secret
        obj.ext = ext
        return obj


@dataclass
class RuleFields:
    """What labeling needs of a gitleaks rule: its id, regex and secret group."""

    rule_id: str
    regex: str | None = None
    secret_group: int = 0


@dataclass
class Skips:
    """What a source left out, and why (plus counts of checks passed, for the README)."""

    reasons: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str, n: int = 1) -> None:
        if n:
            self.reasons[reason] = self.reasons.get(reason, 0) + n

    def note(self, what: str) -> None:
        self.notes[what] = self.notes.get(what, 0) + 1


def _params(source_tokens: list[Token], name: str) -> list[str]:
    for i, tok in enumerate(source_tokens):
        if tok.text == "func" and source_tokens[i + 1].text == name:
            end = source_tokens.index(Token("op", ")"), i)
            parts = split_top(source_tokens[i + 3 : end], ",")
            return [p[0].text for p in parts]
    raise Unevaluable(f"no function {name}")


def _simple_helpers(source: str, prefix: str, scope: dict[str, Helper]) -> dict[str, Helper]:
    """``func F(params) string { return EXPR }`` functions as helpers evaluating EXPR (with the
    helpers of ``scope`` as they are when called)."""
    tokens = tokenize(source)
    helpers: dict[str, Helper] = {}
    for fn in functions(tokens):
        stmts = statements(fn.body)
        if len(stmts) != 1 or stmts[0][0].text != "return":
            continue
        params = _params(tokens, fn.name)
        expr = stmts[0][1:]

        def helper(
            args: list[object], params: list[str] = params, expr: list[Token] = expr
        ) -> object:
            inner = Evaluator(helpers=scope, env=dict(zip(params, args, strict=True)))
            return inner.value(expr)

        helpers[f"{prefix}{fn.name}"] = helper
    return helpers


def _sprintf(args: list[object]) -> object:
    fmt, rest = str(args[0]), list(args[1:])

    def sub(match: re.Match[str]) -> str:
        if match.group() == "%%":
            return "%"
        if not rest:
            raise Unevaluable("too few Sprintf arguments")
        return str(rest.pop(0))

    return re.sub(r"%%|%[sdv]", sub, fmt)


_BASE_HELPERS: dict[str, Helper] = {
    "fmt.Sprintf": _sprintf,
    "strings.ToUpper": lambda a: str(a[0]).upper(),
    "strings.ToLower": lambda a: str(a[0]).lower(),
    "strings.Repeat": lambda a: str(a[0]) * int(str(a[1])),
    "regexp.MustCompile": lambda a: str(a[0]),
    "base64.StdEncoding.EncodeToString": lambda a: base64.b64encode(str(a[0]).encode()).decode(),
}


def _constants(tokens: list[Token]) -> dict[str, object]:
    """``const ( name = "literal" ... )`` values of a file."""
    found: dict[str, object] = {}
    for i, tok in enumerate(tokens):
        if tok.text == "const" and tokens[i + 1].text == "(":
            end = tokens.index(Token("op", ")"), i)
            for stmt in statements(tokens[i + 2 : end]):
                if len(stmt) == 3 and stmt[1].text == "=" and stmt[2].kind in ("str", "raw"):
                    found[stmt[0].text] = unquote(stmt[2].text)
    return found


class GitleaksReader:
    """Reads the utils package once; then turns each rule function into cases."""

    def __init__(self, read: Callable[[str], str]) -> None:
        self.read = read
        generate_go = read(f"{UTILS_DIR}/generate.go")
        gen_tokens = tokenize(generate_go)
        self.const = _constants(gen_tokens)
        self.templates = self._templates(gen_tokens)
        self.helpers: dict[str, Helper] = dict(_BASE_HELPERS)
        self.helpers.update(
            _simple_helpers(read(f"{UTILS_DIR}/patterns.go"), "utils.", self.helpers)
        )
        self.helpers.update(_simple_helpers(generate_go, "utils.", self.helpers))
        self._plain_sample = self.helpers["utils.GenerateSampleSecret"]
        self.helpers["utils.GenerateSampleSecrets"] = self._sample_secrets
        self.helpers["utils.GenerateSampleSecret"] = self._sample_secret
        self.helpers["utils.GenerateUniqueTokenRegex"] = self._unique_regex
        self.helpers["utils.GenerateSemiGenericRegex"] = self._semi_generic_regex
        self.helpers["utils.MergeRegexps"] = lambda a: "|".join(str(x) for x in a)
        self.rng = random.Random(0)

    @staticmethod
    def _templates(tokens: list[Token]) -> list[tuple[str, str]]:
        for fn in functions(tokens):
            if fn.name != "GenerateSampleSecrets":
                continue
            for stmt in statements(fn.body):
                if stmt[0].text == "samples":
                    table = Evaluator(helpers={}).value(stmt[2:])
                    if isinstance(table, dict):
                        return [(str(k), str(v)) for k, v in table.items()]
        raise Unevaluable("GenerateSampleSecrets templates not found")

    def _sample_secrets(self, args: list[object]) -> list[object]:
        ident, secret = str(args[0]), str(args[1])
        out: list[object] = []
        for name, template in self.templates:
            text = template.replace("{i}", ident).replace("{I}", ident.upper())
            ext = _TEMPLATE_EXT.get(name.split(" ")[0].lower(), "txt")
            out.append(Sample(text.replace("{s}", secret), secret, ext))
        return out

    def _sample_secret(self, args: list[object]) -> object:
        text = self._plain_sample(args)
        return Sample(str(text), str(args[1]), "txt")

    def _unique_regex(self, args: list[object]) -> object:
        c = self.const
        flags = str(c["caseInsensitive"]) if args[1] is True else ""
        return f"{flags}{c['secretPrefixUnique']}{args[0]}{c['secretSuffix']}"

    def _semi_generic_regex(self, args: list[object]) -> object:
        c = self.const
        ids = args[0] if isinstance(args[0], list) else [args[0]]
        idents = f"{c['identifierPrefix']}{'|'.join(str(i) for i in ids)}{c['identifierSuffix']}"
        if args[2] is True:
            head = f"{c['caseInsensitive']}{idents}"
        else:
            head = f"{c['identifierCaseInsensitivePrefix']}{idents}"
            head += str(c["identifierCaseInsensitiveSuffix"])
        return f"{head}{c['operator']}{c['secretPrefix']}{args[1]}{c['secretSuffix']}"

    def _new_secret(self, args: list[object]) -> object:
        return generate(str(args[0]), self.rng)

    def _plausible_secret(self, args: list[object]) -> object:
        # gitleaks' newPlausibleSecret: redraw until the value holds a digit 1-9
        for _ in range(1000):
            value = generate(str(args[0]), self.rng)
            if re.search("[1-9]", value):
                return value
        raise Unevaluable("no plausible secret drawn")

    def _rule_helpers(self) -> dict[str, Helper]:
        helpers = dict(self.helpers)
        helpers["secrets.NewSecret"] = self._new_secret
        helpers["newPlausibleSecret"] = self._plausible_secret
        return helpers

    def package_env(self, path: str, tokens: list[Token]) -> dict[str, object]:
        """The package-level variables of one rule file (example lists shared by its rules)."""
        self.rng = random.Random(f"gitleaks:{path}")
        ev = Evaluator(helpers=self._rule_helpers())
        ev.run(outside_functions(tokens))
        return ev.env

    def rule_cases(
        self, fn: Function, skips: Skips, package: dict[str, object]
    ) -> tuple[str, list[dict[str, object]]]:
        """The rule id and its cases (without ids) of one rule function."""
        self.rng = random.Random(f"gitleaks:{fn.name}")
        ev = Evaluator(helpers=self._rule_helpers(), env=dict(package))
        ev.run(fn.body)
        stmts = statements(fn.body)
        rule = self._rule_fields(stmts, ev)
        rule_id = rule.rule_id
        tps_name, fps_name = _validate_args(stmts)
        skips.add("gitleaks: example expression not evaluable", ev.skipped)
        cases: list[dict[str, object]] = []
        for name, positive in ((tps_name, True), (fps_name, False)):
            if name is None or name == "nil":
                continue
            if name not in ev.env:
                skips.add("gitleaks: tps/fps list not evaluable (loop or unknown helper)")
                continue
            table = ev.env[name]
            items = list(table.items()) if isinstance(table, dict) else [(None, t) for t in table]  # type: ignore[attr-defined]
            compiled = _go_regex_to_python(rule.regex) if rule.regex else None
            for path, text in items:
                if positive and compiled is not None and not compiled.search(str(text)):
                    # the reproduction went wrong somewhere (gitleaks' own test would fail)
                    skips.add("gitleaks: reproduced true positive its rule's regex does not match")
                    continue
                if positive and compiled is not None:
                    skips.note(
                        "gitleaks: True positives matched by their rule's regex (translated to "
                        "Python), as gitleaks' own validation requires"
                    )
                case = _case(rule, path, text, positive)
                if case is None:
                    skips.add("gitleaks: multi-line true positive whose secret lines are unknown")
                else:
                    cases.append(case)
        return rule_id, cases

    @staticmethod
    def _rule_fields(stmts: list[list[Token]], ev: Evaluator) -> RuleFields:
        for stmt in stmts:
            texts = [t.text for t in stmt]
            if "config.Rule" not in texts or "RuleID" not in texts:
                continue
            rule_id = unquote(stmt[texts.index("RuleID") + 2].text)
            open_at = texts.index("{")
            fields = RuleFields(rule_id)
            for field_tokens in split_top(stmt[open_at + 1 : -1], ","):
                if len(field_tokens) < 3 or field_tokens[1].text != ":":
                    continue
                if field_tokens[0].text == "Regex":
                    try:
                        fields.regex = str(ev.value(field_tokens[2:]))
                    except (Unevaluable, ValueError):
                        fields.regex = None
                elif field_tokens[0].text == "SecretGroup":
                    fields.secret_group = int(field_tokens[2].text)
            return fields
        raise Unevaluable("no config.Rule with a RuleID")


def _validate_args(stmts: list[list[Token]]) -> tuple[str | None, str | None]:
    for stmt in stmts:
        texts = [t.text for t in stmt]
        if texts[:2] == ["return", "utils.Validate"] or texts[:2] == [
            "return",
            "utils.ValidateWithPaths",
        ]:
            args = split_top(stmt[3:-1], ",")
            return args[1][0].text, args[2][0].text
    return None, None


# RE2's POSIX classes, which Python's re lacks (inside a bracket expression)
_POSIX_CLASSES = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "lower": "a-z",
    "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
    "space": r"\s",
    "punct": r"!-/:-@\[-`{-~",
}


def _go_regex_to_python(pattern: str) -> re.Pattern[str] | None:
    flags = 0
    if "(?i)" in pattern:
        flags |= re.IGNORECASE
        pattern = pattern.replace("(?i)", "")
    pattern = pattern.replace(r"\z", r"\Z")
    for posix, members in _POSIX_CLASSES.items():
        pattern = pattern.replace(f"[:{posix}:]", members)
    try:
        return re.compile(pattern, flags)
    except re.error:
        return None


def lines_of(text: str) -> list[str]:
    """The corpus' lines: split on newlines only; a final newline ends the last line."""
    parts = text.split("\n")
    return parts[:-1] if len(parts) > 1 and parts[-1] == "" else parts


def line_span(text: str, start: int, end: int) -> list[int]:
    """1-based [first, last] line of the character range [start, end)."""
    first = text.count("\n", 0, start) + 1
    last = text.count("\n", 0, max(start, end - 1)) + 1
    return [first, last]


def _case(
    rule: RuleFields, path: str | None, text: object, positive: bool
) -> dict[str, object] | None:
    rule_id, regex, secret_group = rule.rule_id, rule.regex, rule.secret_group
    body = str(text)
    ext = text.ext if isinstance(text, Sample) else _guess_ext(body)
    spans: list[list[int]] = []
    if positive:
        if len(lines_of(body)) == 1:
            spans = [[1, 1]]
        elif isinstance(text, Sample) and text.secret and text.secret in body:
            at = body.index(text.secret)
            spans = [line_span(body, at, at + len(text.secret))]
        else:
            compiled = _go_regex_to_python(regex) if regex else None
            match = compiled.search(body) if compiled else None
            if match is None:
                return None
            # gitleaks' secret: the rule's SecretGroup, else the first group that matched
            nonempty = [g for g in range(1, (match.re.groups or 0) + 1) if match.group(g)]
            group = secret_group or (nonempty[0] if nonempty else 0)
            spans = [line_span(body, match.start(group), match.end(group))]
    return {
        "rule": rule_id,
        "path": path or f"{rule_id}.{ext}",
        "text": body,
        "secrets": spans,
    }


def _guess_ext(body: str) -> str:
    stripped = body.strip()
    if stripped[:1] in ("{", "["):
        try:
            json.loads(stripped)
            return "json"
        except ValueError:
            pass
    if stripped.startswith("<") and stripped.endswith(">"):
        return "xml"
    return "txt"
