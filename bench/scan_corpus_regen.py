"""A seeded string generator for the small regular expressions gitleaks' rule tests feed to
``secrets.NewSecret`` (character classes, literals, groups, alternation, counted repetition).

gitleaks draws these with a Go library (reggen) at every run; the corpus needs the same kind of
value drawn deterministically, so this walks the expression itself with a ``random.Random``.
Only the syntax those tests use is understood: anything else raises ``ValueError`` and the
builder skips (and counts) the case rather than guess.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

# What an unbounded repetition (*, +, {n,}) may add beyond its minimum: reggen is called with a
# limit of 1 by gitleaks, so a repetition grows by at most one beyond its minimum.
_UNBOUNDED_EXTRA = 1

_CLASS_ESCAPES = {
    "d": string.digits,
    "w": string.ascii_letters + string.digits + "_",
    "s": " \t",
}
# A negated class or "." draws from printable ASCII without whitespace (what a token holds).
_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))


@dataclass(frozen=True)
class Lit:
    text: str


@dataclass(frozen=True)
class Chars:
    members: str


@dataclass(frozen=True)
class Alt:
    branches: list[list[Node]]


@dataclass(frozen=True)
class Rep:
    atom: Node
    lo: int
    hi: int


Node = Lit | Chars | Alt | Rep


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def take(self) -> str:
        ch = self.p[self.i]
        self.i += 1
        return ch

    def alternation(self) -> Node:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.take()
            branches.append(self.sequence())
        return Alt(branches)

    def sequence(self) -> list[Node]:
        items: list[Node] = []
        while self.peek() not in ("", "|", ")"):
            atom = self.atom()
            if atom is None:
                continue
            items.append(self.quantified(atom))
        return items

    def quantified(self, atom: Node) -> Node:
        ch = self.peek()
        if ch in ("*", "+", "?"):
            self.take()
            lo, hi = {"*": (0, _UNBOUNDED_EXTRA), "+": (1, 1 + _UNBOUNDED_EXTRA), "?": (0, 1)}[ch]
        elif ch == "{" and self._counted_ahead():
            self.take()
            body = ""
            while self.peek() != "}":
                body += self.take()
            self.take()
            lo_s, _, hi_s = body.partition(",")
            lo = int(lo_s)
            hi = lo if "," not in body else (int(hi_s) if hi_s else lo + _UNBOUNDED_EXTRA)
        else:
            return atom
        if self.peek() == "?":  # lazy marker: the same set of strings
            self.take()
        return Rep(atom, lo, hi)

    def _counted_ahead(self) -> bool:
        end = self.p.find("}", self.i)
        body = self.p[self.i + 1 : end] if end > 0 else ""
        return bool(body) and all(c.isdigit() or c == "," for c in body) and body[0].isdigit()

    def atom(self) -> Node | None:
        ch = self.take()
        if ch == "(":
            if self.p.startswith("?:", self.i):
                self.i += 2
            elif self.peek() == "?":
                # (?i) and similar flags: case does not change what is drawn here
                end = self.p.index(")", self.i)
                flags = self.p[self.i + 1 : end]
                if not flags.isalpha():
                    raise ValueError(f"unsupported group syntax (?{flags}")
                self.i = end + 1
                return None
            inner = self.alternation()
            if self.take() != ")":
                raise ValueError("unbalanced parenthesis")
            return inner
        if ch == "[":
            return Chars(self.char_class())
        if ch == "\\":
            return self.escape(in_class=False)
        if ch == ".":
            return Chars(_PRINTABLE)
        if ch in ("^", "$"):
            return None
        return Lit(ch)

    def escape(self, *, in_class: bool) -> Node:
        ch = self.take()
        if ch in _CLASS_ESCAPES:
            return Chars(_CLASS_ESCAPES[ch])
        if ch == "x":
            code = self.p[self.i : self.i + 2]
            self.i += 2
            return Lit(chr(int(code, 16)))
        if ch in ("b", "B", "A", "z") and not in_class:
            return Lit("")
        if ch.isalnum():
            raise ValueError(f"unsupported escape \\{ch}")
        return Lit(ch)

    def char_class(self) -> str:
        negate = self.peek() == "^"
        if negate:
            self.take()
        chars: list[str] = []
        first = True
        while first or self.peek() != "]":
            first = False
            ch = self.take()
            if ch == "\\":
                chars.append(_members(self.escape(in_class=True)))
                continue
            if self.peek() == "-" and self.p[self.i + 1 : self.i + 2] not in ("]", ""):
                self.take()
                end = self.take()
                if end == "\\":
                    end = _members(self.escape(in_class=True))
                chars.append("".join(chr(c) for c in range(ord(ch), ord(end) + 1)))
                continue
            chars.append(ch)
        self.take()
        members = "".join(dict.fromkeys("".join(chars)))
        if negate:
            members = "".join(c for c in _PRINTABLE if c not in members)
        return members


def _members(node: Node) -> str:
    if isinstance(node, Lit):
        return node.text
    if isinstance(node, Chars):
        return node.members
    raise ValueError("not a character")


def _draw(node: Node, rng: random.Random, out: list[str]) -> None:
    if isinstance(node, Lit):
        out.append(node.text)
    elif isinstance(node, Chars):
        out.append(rng.choice(node.members))
    elif isinstance(node, Alt):
        for item in rng.choice(node.branches):
            _draw(item, rng, out)
    else:
        for _ in range(rng.randint(node.lo, node.hi)):
            _draw(node.atom, rng, out)


def generate(pattern: str, rng: random.Random) -> str:
    """One string matching ``pattern`` drawn with ``rng``; ValueError on syntax not handled."""
    parser = _Parser(pattern)
    try:
        tree = parser.alternation()
    except (IndexError, KeyError) as exc:
        raise ValueError(f"cannot parse {pattern!r}") from exc
    if parser.i != len(pattern):
        raise ValueError(f"trailing syntax in {pattern!r}")
    out: list[str] = []
    _draw(tree, rng, out)
    return "".join(out)
