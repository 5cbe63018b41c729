"""Typed fakes: a run of six counting characters marks a token a person wrote."""

from __future__ import annotations

import random
import string

import pytest

from stacksafe.scan.rules.generated import generated_only, looks_generated
from stacksafe.scan.rules.model import token
from stacksafe.scan.ruleset import RuleSet


@pytest.mark.parametrize(
    "secret",
    [
        "sk-1234567c7Qu0EjDIEWdc",
        "gsk_Hid69Ui8HGkFiJlVZxv1KKvgS76543210",
        "cosmo_abcdef1234",
        "tvly-dev-qCusAd1Wp7xyvMFgIuzA012345",
        "x-klmnopqrstuvwx",
        "KEY-UVWXYZ",
    ],
)
def test_counting_runs_are_typed(secret: str) -> None:
    assert not looks_generated(secret)


def test_random_tokens_look_generated() -> None:
    draw = random.Random(7)
    alphabet = string.ascii_letters + string.digits
    tokens = ["".join(draw.choice(alphabet) for _ in range(40)) for _ in range(2000)]
    assert all(looks_generated(t) for t in tokens)
    # Five in a row, or a run across letters and digits ("89ab"), is not a count.
    assert looks_generated("abcde9xyz")
    assert looks_generated("x6789abcd")


def test_generated_only_keeps_a_rules_own_check() -> None:
    rule = token("demo", "Demo", ("tok_",), r"tok_[a-z0-9]{10}", check=lambda s: "q" not in s)
    [wrapped] = generated_only([rule])
    rules = RuleSet([wrapped])
    assert rules.matches("tok_k3m9x2v8w4")
    assert not rules.matches("tok_q3m9x2v8w4")  # the rule's own check
    assert not rules.matches("tok_k123456zz9")  # the typed-fake check
