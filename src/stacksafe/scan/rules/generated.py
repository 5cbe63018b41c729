"""Whether a token was made by a generator rather than typed by a person.

Fixtures and documentation write fake tokens with the right prefix and length but a typed body:
a counting run (``0123456789``, ``76543210``), the alphabet in order (``abcdefghij``,
``klmnopqrstuvwx``). A random body of 20 or more characters holds a run of six consecutive
characters with a chance of about one in a million, so such a run marks a fake.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable

from stacksafe.scan.rules.model import Rule

__all__ = ["generated_only", "looks_generated"]

_RUN = 6


def looks_generated(secret: str) -> bool:
    """False if ``secret`` holds ``_RUN`` letters or digits in a row that count up or down
    (``abcdef``, ``123456``, ``FEDCBA``)."""
    up = down = 1
    for before, after in itertools.pairwise(secret):
        step = ord(after) - ord(before)
        same_kind = before.isalnum() and after.isalnum() and before.isdigit() == after.isdigit()
        up = up + 1 if same_kind and step == 1 else 1
        down = down + 1 if same_kind and step == -1 else 1
        if up >= _RUN or down >= _RUN:
            return False
    return True


def _both(first: Callable[[str], bool], second: Callable[[str], bool]) -> Callable[[str], bool]:
    def check(secret: str) -> bool:
        return first(secret) and second(secret)

    return check


def generated_only(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    """The rules, each also refusing a secret that does not look generated."""
    result = []
    for rule in rules:
        check = looks_generated if rule.check is None else _both(rule.check, looks_generated)
        result.append(dataclasses.replace(rule, check=check))
    return tuple(result)
