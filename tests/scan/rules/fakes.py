"""Fake credentials for the rule tests: random characters of an issuer's alphabet and length,
drawn from a seeded generator (the same text at every run), and the assertions every family's
test makes: a real-format token is found with its rule, line and column; a lookalike is not."""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterable, Sequence

import pytest

from stacksafe.scan.rules.model import Rule
from stacksafe.scan.rules.services import service_rules
from stacksafe.scan.ruleset import RuleSet

__all__ = ["Fakes", "assert_clean", "assert_found", "family_tests"]

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64URL = ALNUM + "_-"


class Fakes:
    """Random strings of a given alphabet, from a generator seeded per test module."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def of(self, alphabet: str, size: int) -> str:
        return "".join(self._random.choice(alphabet) for _ in range(size))

    def alnum(self, size: int) -> str:
        return self.of(ALNUM, size)

    def hex(self, size: int) -> str:
        return self.of(HEX, size)

    def upper_hex(self, size: int) -> str:
        return self.of(HEX.upper(), size)

    def digits(self, size: int) -> str:
        return self.of(string.digits, size)

    def lower(self, size: int) -> str:
        return self.of(string.ascii_lowercase + string.digits, size)

    def letters(self, size: int) -> str:
        return self.of(string.ascii_letters, size)

    def b64url(self, size: int) -> str:
        return self.of(B64URL, size)

    def uuid(self) -> str:
        return "-".join(self.hex(n) for n in (8, 4, 4, 4, 12))


def assert_found(rules: Iterable[Rule], line: str, rule_id: str, secret: str) -> None:
    """``secret``, written in ``line`` (the second line of a text), is found by ``rule_id``
    and by no other rule, at the secret's own line and column."""
    text = "# configuration\n" + line + "\n"
    matches = RuleSet(service_rules(rules)).matches(text)
    assert [(m.rule.id, m.line, m.column, m.secret) for m in matches] == [
        (rule_id, 2, line.index(secret) + 1, secret)
    ], line


def assert_clean(rules: Iterable[Rule], text: str) -> None:
    """Nothing in ``text`` is reported."""
    assert RuleSet(service_rules(rules)).matches(text) == [], text


Case = tuple[str, str, str]
"""A rule id, a fake secret, and the line that holds it (``{}`` where the secret goes)."""


def family_tests(
    rules: Sequence[Rule], cases: Sequence[Case], lookalikes: Sequence[str]
) -> tuple[Callable[..., None], Callable[[], None], Callable[[str], None]]:
    """The three tests of a rule family: each case is found by its rule; every rule of the
    family has a case; no lookalike is reported. A family's test module assigns them to
    ``test_`` names for pytest to collect."""

    @pytest.mark.parametrize(("rule_id", "secret", "line"), cases, ids=[c[0] for c in cases])
    def finds_each_credential(rule_id: str, secret: str, line: str) -> None:
        assert_found(rules, line.format(secret), rule_id, secret)

    def every_rule_has_a_case() -> None:
        assert {c[0] for c in cases} == {r.id for r in rules}

    @pytest.mark.parametrize("text", lookalikes)
    def ignores_lookalikes(text: str) -> None:
        assert_clean(rules, text)

    return finds_each_credential, every_rule_has_a_case, ignores_lookalikes
