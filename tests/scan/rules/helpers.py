"""What the rule-family tests share: the catalogue's matches on a text, as (rule, line, column)."""

from __future__ import annotations

import random
import string

from stacksafe.scan.rules.catalogue import RULES
from stacksafe.scan.ruleset import RuleSet

_RULES = RuleSet(RULES)
BASE62 = string.ascii_letters + string.digits


def found(text: str) -> list[tuple[str, int, int]]:
    return [(m.rule.id, m.line, m.column) for m in _RULES.matches(text)]


def ids(text: str) -> set[str]:
    return {m.rule.id for m in _RULES.matches(text)}


def fake(seed: int, length: int, alphabet: str = BASE62) -> str:
    """A random token of the right alphabet and length: seeded, so a failure repeats."""
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(length))
