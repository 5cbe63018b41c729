"""Stand-ins for tokens in rule tests: characters of a format's alphabet from a seeded generator,
and the harness that runs one family's rules over a text (real rules, no engine mocks)."""

from __future__ import annotations

import random
import string
import zlib
from collections.abc import Callable, Sequence

import pytest

from stacksafe.scan.rules.model import Rule
from stacksafe.scan.rules.services import service_rules
from stacksafe.scan.ruleset import RuleSet

__all__ = [
    "ALNUM",
    "B64",
    "HEX",
    "UPPER",
    "Draw",
    "assert_found",
    "checksummed",
    "family_tests",
    "found",
]

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
UPPER = string.ascii_uppercase + string.digits
B64 = ALNUM + "+/"
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


class Draw:
    """Random characters, the same at every run (one generator per test module)."""

    def __init__(self, seed: str | int) -> None:
        self._rng = random.Random(seed)

    def __call__(self, alphabet: str, n: int) -> str:
        return "".join(self._rng.choice(alphabet) for _ in range(n))


def checksummed(prefix: str, body: str) -> str:
    """``prefix`` + ``body`` + the CRC32 of ``body`` in six base62 digits (GitHub, npm)."""
    value, digits = zlib.crc32(body.encode()), ""
    while value:
        value, r = divmod(value, 62)
        digits = _BASE62[r] + digits
    return prefix + body + digits.rjust(6, "0")


def found(rules: Sequence[Rule], text: str) -> list[tuple[str, int, int, str]]:
    """(rule id, line, column, secret) of every match of ``rules`` in ``text``, the rules as
    the catalogue ships them (the service policy applied)."""
    matches = RuleSet(service_rules(rules)).matches(text)
    return [(m.rule.id, m.line, m.column, m.secret) for m in matches]


def assert_found(rules: Sequence[Rule], rule_id: str, line: str, secret: str) -> None:
    """``line`` (as the second line of a file) yields exactly ``secret``, by ``rule_id``, at
    its line and column."""
    text = "# settings\n" + line + "\n"
    assert found(rules, text) == [(rule_id, 2, line.index(secret) + 1, secret)]


Case = tuple[str, str, str]  # (rule id, a line with {} where the secret goes, the secret)


def family_tests(
    rules: Sequence[Rule], cases: Sequence[Case], stand_ins: Sequence[str]
) -> tuple[Callable[..., None], Callable[[], None], Callable[[str], None]]:
    """The three tests of a family module: each case's secret is found (rule, line, column);
    every rule has a case; no stand-in or lookalike is found."""

    @pytest.mark.parametrize(("rule_id", "template", "secret"), cases, ids=[c[0] for c in cases])
    def test_real_format_is_found(rule_id: str, template: str, secret: str) -> None:
        assert_found(rules, rule_id, template.format(secret), secret)

    def test_every_rule_has_a_case() -> None:
        assert {r.id for r in rules} == {c[0] for c in cases}

    @pytest.mark.parametrize("text", stand_ins)
    def test_placeholder_or_lookalike_is_not_found(text: str) -> None:
        assert found(rules, text) == []

    return (
        test_real_format_is_found,
        test_every_rule_has_a_case,
        test_placeholder_or_lookalike_is_not_found,
    )
