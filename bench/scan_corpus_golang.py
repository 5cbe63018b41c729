"""A tiny reader of Go source: tokens, function bodies, statements and the few expressions
gitleaks' rule files build their true/false-positive examples from.

Only what those files use is evaluated (string literals, ``+``, ``[]string{}``, ``map[string]
string{}``, ``append``, and the helper calls passed in by the caller); anything else raises
``Unevaluable`` so the builder can skip and count it instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"""
    (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<newline>\n)
  | (?P<space>[ \t\r]+)
  | (?P<raw>`[^`]*`)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<rune>'(?:[^'\\\n]|\\.)+')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<num>[0-9][0-9a-fA-Fx_.]*)
  | (?P<op>\.\.\.|:=|==|!=|&&|\|\||<=|>=|\+=|\+\+|[-+*/%<>=!&|^(){}\[\],;:.])
    """,
    re.VERBOSE | re.DOTALL,
)
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}
_ENDS_STATEMENT = {"ident", "str", "raw", "rune", "num"}


class Unevaluable(Exception):
    """An expression this reader does not evaluate (a loop, an unknown helper...)."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def unquote(literal: str) -> str:
    """The value of a Go string literal (interpreted or raw)."""
    if literal.startswith("`"):
        return literal[1:-1].replace("\r", "")
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1]
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
            i += 2
        elif esc in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[esc]
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        elif esc in "01234567":
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
        else:
            raise Unevaluable(f"unknown escape \\{esc}")
    return "".join(out)


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            raise Unevaluable(f"cannot tokenize at {source[pos : pos + 20]!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        if kind in ("space", "comment"):
            if kind == "comment" and "\n" in match.group():
                tokens.append(Token("newline", "\n"))
            continue
        tokens.append(Token(kind, match.group()))
    return tokens


@dataclass
class Function:
    name: str
    body: list[Token]


def functions(tokens: list[Token]) -> list[Function]:
    """Top-level ``func Name(...) ... { body }`` declarations, in source order."""
    found: list[Function] = []
    i = 0
    while i < len(tokens):
        if tokens[i].text == "func" and i + 1 < len(tokens) and tokens[i + 1].kind == "ident":
            name = tokens[i + 1].text
            j = i + 2
            while tokens[j].text != "{":
                j += 1
            end = matching(tokens, j)
            found.append(Function(name, tokens[j + 1 : end]))
            i = end + 1
        else:
            i += 1
    return found


def matching(tokens: list[Token], start: int) -> int:
    """Index of the bracket closing the one at ``start``."""
    depth = 0
    for k in range(start, len(tokens)):
        text = tokens[k].text
        if tokens[k].kind == "op" and text in "([{":
            depth += 1
        elif tokens[k].kind == "op" and text in ")]}":
            depth -= 1
            if depth == 0:
                return k
    raise Unevaluable("unbalanced brackets")


def outside_functions(tokens: list[Token]) -> list[Token]:
    """A file's tokens without its function declarations (its package-level var/const)."""
    kept: list[Token] = []
    i = 0
    while i < len(tokens):
        if tokens[i].text == "func":
            j = i
            while tokens[j].text != "{":
                j += 1
            i = matching(tokens, j) + 1
            continue
        kept.append(tokens[i])
        i += 1
    return kept


def statements(body: list[Token]) -> list[list[Token]]:
    """Split a body at its depth-0 statement ends (Go's automatic semicolons)."""
    result: list[list[Token]] = []
    current: list[Token] = []
    depth = 0
    for tok in body:
        if tok.kind == "op" and tok.text in "([{":
            depth += 1
        elif tok.kind == "op" and tok.text in ")]}":
            depth -= 1
        if depth == 0 and (tok.kind == "newline" or tok.text == ";"):
            last = current[-1] if current else None
            if last is not None and (
                last.kind in _ENDS_STATEMENT or last.text in (")", "]", "}", "++")
            ):
                result.append(current)
                current = []
            continue
        if tok.kind != "newline" or (depth > 0 and current):
            current.append(tok)  # newlines inside brackets end a nested block's statements
    if current:
        result.append(current)
    return result


def split_top(tokens: list[Token], sep: str) -> list[list[Token]]:
    """Split at depth-0 ``sep`` tokens (commas of an argument list); drops a trailing empty part."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.kind == "newline":
            continue
        if tok.kind == "op" and tok.text in "([{":
            depth += 1
        elif tok.kind == "op" and tok.text in ")]}":
            depth -= 1
        if depth == 0 and tok.kind == "op" and tok.text == sep:
            parts.append([])
        else:
            parts[-1].append(tok)
    return [p for p in parts if p]


Helper = Callable[[list[object]], object]


@dataclass
class Evaluator:
    """Evaluates expressions over an environment of already assigned names."""

    helpers: dict[str, Helper]
    env: dict[str, object] = field(default_factory=dict)
    skipped: int = 0  # list elements that could not be evaluated (and were left out)

    def value(self, tokens: list[Token]) -> object:
        tokens = [t for t in tokens if t.kind != "newline"]
        terms = split_top(tokens, "+")
        if len(terms) > 1:
            parts = [self.value(t) for t in terms]
            if not all(isinstance(p, str) for p in parts):
                raise Unevaluable("+ of non-strings")
            return "".join(str(p) for p in parts)
        return self.primary(tokens)

    def primary(self, tokens: list[Token]) -> object:
        tokens = [t for t in tokens if t.kind != "newline"]
        if not tokens:
            raise Unevaluable("empty expression")
        head = tokens[0]
        if len(tokens) == 1:
            if head.kind in ("str", "raw"):
                return unquote(head.text)
            if head.kind == "num" and head.text.isdigit():
                return int(head.text)
            if head.text in ("true", "false"):
                return head.text == "true"
            if head.kind == "ident" and head.text in self.env:
                return self.env[head.text]
            raise Unevaluable(f"unknown name {head.text}")
        if head.text == "(" and matching(tokens, 0) == len(tokens) - 1:
            return self.value(tokens[1:-1])
        texts = [t.text for t in tokens[:4]]
        if texts[:3] == ["[", "]", "string"] and tokens[3].text == "{":
            return self.elements(tokens[4:-1])
        if texts[:4] == ["map", "[", "string", "]"]:
            return self.mapping(tokens[tokens.index(Token("op", "{"), 4) + 1 : -1])
        if texts[:3] == ["[", "]", "byte"] and tokens[3].text == "(":
            return self.value(tokens[4:-1])  # a []byte(...) conversion: the same text here
        if (
            head.kind == "ident"
            and tokens[1].text == "("
            and matching(tokens, 1) == len(tokens) - 1
        ):
            return self.call(head.text, tokens[2:-1])
        raise Unevaluable("unsupported expression")

    def elements(self, tokens: list[Token]) -> list[object]:
        out: list[object] = []
        for part in split_top(tokens, ","):
            try:
                out.append(self.value(part))
            except (Unevaluable, ValueError):
                self.skipped += 1
        return out

    def mapping(self, tokens: list[Token]) -> dict[str, object]:
        out: dict[str, object] = {}
        for part in split_top(tokens, ","):
            key_value = split_top(part, ":")
            try:
                out[str(self.value(key_value[0]))] = self.value(key_value[1])
            except (Unevaluable, ValueError, IndexError):
                self.skipped += 1
        return out

    def call(self, name: str, arg_tokens: list[Token]) -> object:
        parts = split_top(arg_tokens, ",")
        spread = bool(parts) and parts[-1][-1].text == "..."
        if spread:
            parts[-1] = parts[-1][:-1]
        if name == "append":
            base = self.value(parts[0])
            if not isinstance(base, list):
                raise Unevaluable("append to a non-list")
            if spread:
                extra = self.value(parts[1])
                if not isinstance(extra, list):
                    raise Unevaluable("spread of a non-list")
                return [*base, *extra]
            return [*base, *self.elements([t for p in parts[1:] for t in [*p, Token("op", ",")]])]
        helper = self.helpers.get(name)
        if helper is None:
            raise Unevaluable(f"unknown function {name}")
        return helper([self.value(p) for p in parts])

    def run(self, body: list[Token]) -> None:
        """Execute the body's simple assignments; names a loop or branch assigns become unknown."""
        for stmt in statements(body):
            texts = [t.text for t in stmt]
            if texts[:2] in (["var", "("], ["const", "("]):
                self.run(stmt[2:-1])
                continue
            if texts and texts[0] in ("var", "const"):
                eq = texts.index("=") if "=" in texts else -1
                target, expr = texts[1], stmt[eq + 1 :] if eq > 0 else []
            elif len(stmt) > 2 and stmt[0].kind == "ident" and texts[1] in (":=", "="):
                target, expr = texts[0], stmt[2:]
            else:
                if texts and texts[0] in ("for", "if", "switch"):
                    for k, tok in enumerate(stmt[:-1]):
                        if tok.kind == "ident" and stmt[k + 1].text in (":=", "=", "+="):
                            self.env.pop(tok.text, None)
                continue
            try:
                self.env[target] = self.value(expr)
            except (Unevaluable, ValueError):
                if [t.text for t in expr[:3]] == ["append", "(", target] and target in self.env:
                    self.skipped += 1  # keep what was gathered; count the part left out
                else:
                    self.env.pop(target, None)
