"""The catalogue as a whole: ids unique and stable in form, keywords specific enough to keep the
keyword pass selective, descriptions present."""

from __future__ import annotations

import re

from stacksafe.scan.rules.catalogue import RULES

_KEBAB = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def test_ids_are_unique_kebab_case() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not _KEBAB.fullmatch(i)] == []


def test_keywords_are_at_least_three_characters() -> None:
    # One or two letters occur on most lines: the rule's regex would run everywhere.
    assert [(r.id, k) for r in RULES for k in r.keywords if len(k) < 3] == []


def test_every_rule_is_described() -> None:
    assert [r.id for r in RULES if not r.description or r.description.endswith(".")] == []
