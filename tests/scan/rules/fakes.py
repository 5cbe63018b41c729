"""Fake credentials for the rule tests of the families written with a ``Fakes`` generator:
random characters of an issuer's alphabet and length, named by kind, and that family's form of
the shared assertions (draw.py holds the generator and the harness; cases here list the secret
before its line)."""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Sequence

from stacksafe.scan.rules.model import Rule
from tests.scan.rules import draw
from tests.scan.rules.draw import ALNUM, HEX

__all__ = ["Fakes", "assert_clean", "assert_found", "family_tests"]

B64URL = ALNUM + "_-"


class Fakes(draw.Draw):
    """Random strings of a given alphabet, from a generator seeded per test module."""

    def of(self, alphabet: str, size: int) -> str:
        return self(alphabet, size)

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
    draw.assert_found(list(rules), rule_id, line, secret)


def assert_clean(rules: Iterable[Rule], text: str) -> None:
    """Nothing in ``text`` is reported."""
    assert draw.found(list(rules), text) == [], text


Case = tuple[str, str, str]
"""A rule id, a fake secret, and the line that holds it (``{}`` where the secret goes)."""


def family_tests(
    rules: Sequence[Rule], cases: Sequence[Case], lookalikes: Sequence[str]
) -> tuple[Callable[..., None], Callable[[], None], Callable[[str], None]]:
    """draw.family_tests, for cases that list the secret before its line."""
    return draw.family_tests(rules, [(r, line, secret) for r, secret, line in cases], lookalikes)
