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
import re
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
# The same, with the spellings detect-secrets also accepts (``pragma:allowlist-secret``, the
# older ``whitelist``)...
_ALLOW = re.compile(r"stacksafe:allow|gitleaks:allow|pragma: ?(?:allow|white)list[ -]secret")
# ...and its marker for the next line, on a line of its own: a comment holding only it.
_ALLOW_NEXT = re.compile(
    r"[ \t]*(?:#|//|/\*|--|<!--|;|%|\*)[ \t]*pragma: ?allowlist[ -]nextline[ -]secret"
)


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
    end: int = 0  # the offset just past the whole match (its context too)

    def __repr__(self) -> str:
        return f"RuleMatch(rule={self.rule.id!r}, line={self.line}, column={self.column})"


class _Lines:
    """Line numbers and line starts of offsets in one text.

    Each answer is counted from the nearest offset asked about before (kept sorted), never from
    the text's start: a match in a 20 MB minified line costs the distance to the previous match,
    not a search back to the line's start, and a text of millions of short lines is not indexed
    whole for a handful of matches.
    """

    __slots__ = ("_allowed", "_marks", "_offsets", "_text", "ends", "size")

    def __init__(self, text: str) -> None:
        self._text = text
        self.size = len(text)
        self._offsets = [0]
        self._marks = [(1, 0)]  # per offset: (its line number, its line's start)
        self._allowed: dict[int, tuple[int, bool]] = {}  # line start -> (its end, holds a marker)
        self.ends: dict[int, int] = {}  # line start -> its end, for the lines keywords are on

    def locate(self, offset: int) -> tuple[int, int]:
        """(1-based line number, start of that line) of ``offset``."""
        at = bisect.bisect_right(self._offsets, offset) - 1
        known = self._offsets[at]
        line, start = self._marks[at]
        breaks = self._text.count("\n", known, offset)
        if breaks:
            line += breaks
            start = self._text.rfind("\n", known, offset) + 1
        if known != offset:
            self._offsets.insert(at + 1, offset)
            self._marks.insert(at + 1, (line, start))
        return line, start

    def end(self, offset: int, lines: int) -> int:
        at = offset
        for _ in range(lines):
            at = self._text.find("\n", at)
            if at < 0:
                return len(self._text)
            at += 1
        return at - 1

    def windows(self, starts: Iterable[int], span: int) -> list[tuple[int, int]]:
        """The text a rule's regex runs on: from each line start in ``starts`` (sorted),
        ``span`` lines; windows that overlap are joined and each line break is looked for
        once (a PEM rule's 250 lines from each of many keyword lines would otherwise be
        searched, and counted, hundreds of times). One-line windows never overlap: a one-line
        rule sees one line at once."""
        if span == 1:
            return [(start, self.ends[start]) for start in starts]
        windows: list[tuple[int, int]] = []
        number, counted = 1, 0  # the line number of offset ``counted``
        last = 0  # the line number of the current window's last line
        for start in starts:
            number += self._text.count("\n", counted, start)
            counted = start
            target = number + span - 1
            if windows and start <= windows[-1][1]:
                begin, stop = windows[-1]
                if target > last and stop < self.size:
                    windows[-1] = (begin, self.end(stop + 1, target - last))
            else:
                windows.append((start, self.end(start, span)))
            last = max(last, target)
        return windows

    def allowed(self, begin: int, stop: int) -> bool:
        """Whether a line of the text ``[begin, stop)`` holds an allow marker, or follows a line
        that allows the next (a PEM block is allowed on any of its lines). Each line is
        searched once, whatever its matches."""
        start = self.locate(begin)[1]
        while True:
            known = self._allowed.get(start)
            if known is None:
                end = self._text.find("\n", start)
                end = self.size if end < 0 else end
                marked = _ALLOW.search(self._text, start, end) is not None
                if not marked and start > 0:
                    above = self._text.rfind("\n", 0, start - 1) + 1
                    marked = _ALLOW_NEXT.match(self._text, above, start - 1) is not None
                known = self._allowed[start] = (end, marked)
            end, marked = known
            if marked:
                return True
            if end >= stop or end == self.size:
                return False
            start = end + 1


class RuleSet:
    """Rules ready to match: ``matches(text)`` gives every kept match, in text order."""

    __slots__ = ("_automaton", "_silent", "rules")

    def __init__(self, rules: Iterable[Rule], silent: Iterable[str] = ()) -> None:
        """``silent`` names specific rules that run without reporting: a disabled rule still
        keeps generic rules off its text (disabling ``stripe-test-key`` must not bring the same
        keys back as ``secret-keyword``)."""
        self.rules: tuple[Rule, ...] = tuple(rules)
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("rule ids must be unique")
        quiet = set(silent)
        self._silent = tuple(r.id in quiet for r in self.rules)
        by_keyword: dict[str, list[int]] = defaultdict(list)
        for index, rule in enumerate(self.rules):
            for keyword in rule.keywords:
                by_keyword[keyword].append(index)
        self._automaton = ahocorasick.Automaton()
        for keyword, indexes in by_keyword.items():
            self._automaton.add_word(keyword, (len(keyword), tuple(indexes)))
        if by_keyword:
            self._automaton.make_automaton()

    @classmethod
    def disabling(cls, rules: Iterable[Rule], disabled: Sequence[str]) -> RuleSet:
        """``rules`` less those named (unknown names are the caller's to refuse): a disabled
        generic rule does not run, a disabled specific one runs silent."""
        off = set(disabled)
        return cls((r for r in rules if r.id not in off or not r.generic), silent=off)

    def without(self, disabled: Sequence[str]) -> RuleSet:
        """The same rules less those named (see ``disabling``)."""
        silent = [r.id for r, quiet in zip(self.rules, self._silent, strict=True) if quiet]
        return RuleSet.disabling(self.rules, [*silent, *disabled])

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
                lines.ends[line_start] = line_end
            for index in indexes:
                candidates[index].add(line_start)
        found: list[RuleMatch] = []
        spans: list[tuple[int, int, bool]] = []
        silenced: list[tuple[int, int]] = []  # specific matches not reported (marker, silent)
        for index in sorted(candidates):
            rule, silent = self.rules[index], self._silent[index]
            secret_group = "secret" if "secret" in rule.pattern.groupindex else 0
            for start, stop in lines.windows(sorted(candidates[index]), rule.lines):
                for m in rule.pattern.finditer(text, start, stop):
                    secret = m.group(secret_group)
                    if not secret or not self._kept(rule, secret):
                        continue
                    at = m.start(secret_group)
                    if silent or lines.allowed(m.start(), m.end()):
                        # Still the specific rule's text: a generic rule must not report it.
                        if not rule.generic:
                            silenced.append((at, at + len(secret)))
                        continue
                    number, line_start = lines.locate(at)
                    found.append(RuleMatch(rule, number, at - line_start + 1, secret, m.end()))
                    spans.append((at, at + len(secret), rule.generic))
        return _specific_first(found, spans, silenced)

    @staticmethod
    def _kept(rule: Rule, secret: str) -> bool:
        if rule.min_entropy and shannon(secret) < rule.min_entropy:
            return False
        if rule.check is not None and not rule.check(secret):
            return False
        return not (rule.placeholders and is_placeholder(secret))


def _specific_first(
    found: list[RuleMatch], spans: list[tuple[int, int, bool]], silenced: list[tuple[int, int]]
) -> list[RuleMatch]:
    """Drops a generic match whose text overlaps a specific one's (``silenced``: dropped by an
    allow marker, but specific all the same); orders by position.

    The specific spans are sorted by start with the furthest end so far, so each generic match
    costs one bisection (a file with thousands of each is not a product of the two)."""
    specific = sorted([*((a, b) for a, b, generic in spans if not generic), *silenced])
    starts = [a for a, _ in specific]
    reach: list[int] = []  # reach[i]: the furthest end among specific[0..i]
    for _, b in specific:
        reach.append(max(b, reach[-1]) if reach else b)

    def overlapped(a: int, b: int) -> bool:
        # A specific span starting before b overlaps [a, b) if one of them ends after a.
        before = bisect.bisect_left(starts, b)
        return before > 0 and reach[before - 1] > a

    kept = [
        (span[0], match)
        for match, span in zip(found, spans, strict=True)
        if not span[2] or not overlapped(span[0], span[1])
    ]
    # One match per rule and position (two keywords on one line find the same text twice).
    unique = {(at, m.rule.id): m for at, m in kept}
    return [unique[k] for k in sorted(unique)]
