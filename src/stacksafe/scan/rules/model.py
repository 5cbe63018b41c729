"""A pattern rule: the format facts of one kind of secret, and the constructors of rules.

A rule names the literal *keywords* its matches always contain (a token's fixed prefix, or the
words an assignment must mention); the rule set runs a rule's regex only on the lines where one
of its keywords occurs (one Aho-Corasick pass over the text finds them all), so a rule costs
nothing on text that cannot hold its secret. Everything else is a filter of a match: the part
that is the secret (the regex's ``secret`` group), its least Shannon entropy, a format check the
regex cannot express (a checksum), and whether an obvious placeholder may be dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["UUID", "Rule", "assigned", "token"]

# A UUID in any case: many services issue one as a key or an id.
UUID = r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"

# Characters that continue a token: a match must not start or end inside a longer word.
_TOKEN_CHARACTER = r"A-Za-z0-9_\-"  # noqa: S105  # a character class, no password
# What may stand right before a token: no token character, except the "m" that ends a terminal
# colour code (``ESC[93m``): CI logs and coloured tool output print tokens right after one. The
# first look-behind fails fast on any other letter, so the colour code costs nothing elsewhere.
_LEFT_EDGE = r"(?<![A-Za-ln-z0-9_\-])(?:(?<!m)|(?<=\x1b\[\dm)|(?<=\x1b\[\d\dm))"


@dataclass(frozen=True, slots=True)
class Rule:
    """One kind of secret.

    ``id`` is stable (baselines and ``disable`` lists name it), kebab-case; ``keywords`` are
    lower-case literals, at least one of which every match contains (matched without regard to
    ASCII case); ``pattern`` is compiled and, if it has a ``secret`` group, that group is the
    secret (else the whole match). ``lines`` is how many lines a match may span from the
    keyword's line (a PEM block: dozens). ``generic`` rules (an assignment to a password-like
    name) give way to a specific rule that matched the same text.
    """

    id: str
    description: str
    keywords: tuple[str, ...]
    pattern: re.Pattern[str]
    min_entropy: float = 0.0
    check: Callable[[str], bool] | None = None
    placeholders: bool = True
    lines: int = 1
    generic: bool = False

    def __post_init__(self) -> None:
        if not self.keywords or any(k != k.lower() or not k for k in self.keywords):
            raise ValueError(f"rule {self.id}: keywords must be non-empty lower-case literals")
        if self.lines < 1:
            raise ValueError(f"rule {self.id}: lines must be at least 1")


def token(
    id: str,
    description: str,
    keywords: Sequence[str],
    body: str,
    *,
    min_entropy: float = 0.0,
    check: Callable[[str], bool] | None = None,
    flags: int = 0,
) -> Rule:
    """A token with a recognizable shape (``body``, a regex holding its prefix): found anywhere,
    as a whole word (no token character right before or after it)."""
    pattern = rf"{_LEFT_EDGE}(?P<secret>{body})(?![{_TOKEN_CHARACTER}])"
    return Rule(
        id=id,
        description=description,
        keywords=tuple(keywords),
        pattern=re.compile(pattern, flags),
        min_entropy=min_entropy,
        check=check,
    )


# What may stand between a name and its value: the rest of the name, one type word (Go's
# ``var key string =``), the closing of a key in JSON or YAML, spaces, and an operator: =, :, ->,
# => and the compound assignments of Go, PHP, Ruby and make (:=, ::=, .=, ?=, ||=, +=), a
# function's comma (``setProperty("KEY", "...")``) or an XML element's ``>``.
_ASSIGN = (
    r"""[\w.\-]{0,40}(?:[ \t]\w{1,15})?["'`\]]?\s{0,5}(?:[:?.+|]{0,3}=>?|->|:|,|>)"""
    r"""\s{0,5}["'`]?"""
)


def assigned(
    id: str,
    description: str,
    names: Sequence[str],
    value: str,
    *,
    min_entropy: float = 0.0,
    check: Callable[[str], bool] | None = None,
    generic: bool = False,
    lines: int = 1,
    exact_case: bool = False,
) -> Rule:
    """A value whose shape alone is too common (32 hex characters...) but that follows a name
    saying what it is: ``HEROKU_API_KEY=...``, ``"sendgrid_token": "..."``. ``names`` are
    words; one must occur (any case, or as written if ``exact_case``: ``Etsy`` but not the
    ``etSy`` of ``SetSysctl``) shortly before the value."""
    alternatives = "|".join(re.escape(n) for n in names)
    name = f"(?:{alternatives})" if exact_case else f"(?i:{alternatives})"
    pattern = rf"{name}{_ASSIGN}(?P<secret>{value})(?![{_TOKEN_CHARACTER}])"
    return Rule(
        id=id,
        description=description,
        keywords=tuple(dict.fromkeys(n.lower() for n in names)),
        pattern=re.compile(pattern),
        min_entropy=min_entropy,
        check=check,
        generic=generic,
        lines=lines,
    )
