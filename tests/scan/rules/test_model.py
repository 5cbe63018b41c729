"""The rule constructors of model.py: whole-word tokens (keyed values: test_keyed.py)."""

from __future__ import annotations

import pytest

from stacksafe.scan.rules.model import token
from stacksafe.scan.ruleset import RuleSet


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("t=tok_A1b2C3d4E5f6", True),
        ("\x1b[93mtok_A1b2C3d4E5f6\x1b[0m", True),
        ("\x1b[1mtok_A1b2C3d4E5f6", True),
        ("mtok_A1b2C3d4E5f6", False),
        ("xtok_A1b2C3d4E5f6", False),
        ("tok_A1b2C3d4E5f6x", False),
    ],
)
def test_token_is_a_whole_word(text: str, found: bool) -> None:
    rule = token("demo-token", "Demo token", ("tok_",), r"tok_[A-Za-z0-9]{12}")
    assert bool(RuleSet([rule]).matches(text)) is found
