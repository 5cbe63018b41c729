"""Rules matched over a text: one keyword pass, then each rule's regex on the lines it may match.

One Aho-Corasick automaton holds every rule's keywords. A pass over the text (ASCII case
folded) yields where each keyword occurs; a rule's regex then runs only on the lines holding one
of its keywords (and the ``lines - 1`` after them), never over the whole text. A match is kept
if its secret passes the rule's filters (entropy, format check, placeholder) and no line of the
match carries an allow marker; a generic rule's match gives way to a specific rule's match on
the same text.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ahocorasick  # type: ignore[import-not-found]  # ships no type information

from stacksafe.scan.entropy import shannon
from stacksafe.scan.placeholders import is_placeholder
from stacksafe.scan.rules.model import Rule

__all__ = ["ALLOW_MARKERS", "RuleMatch", "RuleSet"]

# A line holding one of these is not reported: ours, and those of the scanners people come
# from (gitleaks, detect-secrets), so their annotated files need no edit.
ALLOW_MARKERS = ("stacksafe:allow", "gitleaks:allow", "pragma: allowlist secret")


def _fold(text: str) -> str:
    """ASCII letters to lower case, every other character kept: same length, same offsets.

    ``str.lower`` would also fold other letters, some into two characters (offsets would
    shift); bytes' ``lower`` folds ASCII only, and is many times faster than ``str.translate``.
    """
    if text.isascii():
        return text.lower()
    return text.encode("utf-8", "surrogateescape").lower().decode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A kept match: the rule, where its secret starts (1-based line and column) and the secret.

    The secret stays with the caller: it is fingerprinted and dropped, never reported.
    """

    rule: Rule
    line: int
    column: int
    secret: str

    def __repr__(self) -> str:
        return f"RuleMatch(rule={self.rule.id!r}, line={self.line}, column={self.column})"


class _Lines:
    """Line numbers of offsets in one text, computed on the first question."""

    __slots__ = ("_starts", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts: list[int] | None = None

    def number(self, offset: int) -> int:
        if self._starts is None:
            starts, at = [0], self._text.find("\n")
            while at >= 0:
                starts.append(at + 1)
                at = self._text.find("\n", at + 1)
            self._starts = starts
        return bisect.bisect_right(self._starts, offset)

    def start(self, offset: int) -> int:
        return self._text.rfind("\n", 0, offset) + 1

    def end(self, offset: int, lines: int) -> int:
        at = offset
        for _ in range(lines):
            at = self._text.find("\n", at)
            if at < 0:
                return len(self._text)
            at += 1
        return at - 1


class RuleSet:
    """Rules ready to match: ``matches(text)`` gives every kept match, in text order."""

    __slots__ = ("_automaton", "rules")

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("rule ids must be unique")
        by_keyword: dict[str, list[int]] = defaultdict(list)
        for index, rule in enumerate(self.rules):
            for keyword in rule.keywords:
                by_keyword[keyword].append(index)
        self._automaton = ahocorasick.Automaton()
        for keyword, indexes in by_keyword.items():
            self._automaton.add_word(keyword, (len(keyword), tuple(indexes)))
        if by_keyword:
            self._automaton.make_automaton()

    def without(self, disabled: Sequence[str]) -> RuleSet:
        """The same rules less those named (unknown names are the caller's to refuse)."""
        return RuleSet(r for r in self.rules if r.id not in set(disabled))

    def matches(self, text: str) -> list[RuleMatch]:
        if not self.rules:
            return []
        # Rule index -> start offsets of the lines its keywords occur on.
        candidates: dict[int, set[int]] = defaultdict(set)
        lines = _Lines(text)
        # The line of the current hit, [line_start, line_end): hits come in text order, so each
        # stretch of text is searched for line breaks once (a minified file's one long line
        # with thousands of hits costs one search, not one per hit).
        line_start, line_end = 0, -1  # line_end: the line's "\n" (or the text's end)
        for end, (length, indexes) in self._automaton.iter(_fold(text)):
            begin = end - length + 1
            if not line_start <= begin <= line_end:
                # Past the current line, the last break before the hit is at or after its end.
                floor = max(line_end, 0) if begin > line_end else 0
                line_start = text.rfind("\n", floor, begin) + 1
                line_end = text.find("\n", begin)
                if line_end < 0:
                    line_end = len(text)
            for index in indexes:
                candidates[index].add(line_start)
        found: list[RuleMatch] = []
        spans: list[tuple[int, int, bool]] = []
        for index in sorted(candidates):
            rule = self.rules[index]
            for start in sorted(candidates[index]):
                stop = lines.end(start, rule.lines)
                for m in rule.pattern.finditer(text, start, stop):
                    secret_group = "secret" if "secret" in rule.pattern.groupindex else 0
                    secret = m.group(secret_group)
                    if not secret or not self._kept(rule, secret):
                        continue
                    at = m.start(secret_group)
                    line_start = lines.start(at)
                    # The lines of the whole match: a PEM block is allowed on its BEGIN line.
                    whole_end = text.find("\n", m.end())
                    whole = text[lines.start(m.start()) : len(text) if whole_end < 0 else whole_end]
                    if any(marker in whole for marker in ALLOW_MARKERS):
                        continue
                    found.append(RuleMatch(rule, lines.number(at), at - line_start + 1, secret))
                    spans.append((at, at + len(secret), rule.generic))
        return _specific_first(found, spans)

    @staticmethod
    def _kept(rule: Rule, secret: str) -> bool:
        if rule.min_entropy and shannon(secret) < rule.min_entropy:
            return False
        if rule.check is not None and not rule.check(secret):
            return False
        return not (rule.placeholders and is_placeholder(secret))


def _specific_first(found: list[RuleMatch], spans: list[tuple[int, int, bool]]) -> list[RuleMatch]:
    """Drops a generic match whose text overlaps a specific one's; orders by position."""
    specific = [(a, b) for a, b, generic in spans if not generic]
    kept = [
        (span[0], match)
        for match, span in zip(found, spans, strict=True)
        if not span[2] or not any(a < span[1] and span[0] < b for a, b in specific)
    ]
    # One match per rule and position (two keywords on one line find the same text twice).
    unique = {(at, m.rule.id): m for at, m in kept}
    return [unique[k] for k in sorted(unique)]
