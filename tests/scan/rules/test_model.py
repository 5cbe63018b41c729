"""The rule constructors: where a keyed value may stand after its name, whole-word tokens."""

from __future__ import annotations

import pytest

from stacksafe.scan.rules.model import keyed, token
from stacksafe.scan.ruleset import RuleSet

SECRET = "q8Zr2LmX4vT9wK1pB7nD3sF6"
RULE = keyed("demo-key", "Demo key", ("demo",), r"[A-Za-z0-9]{24}")


@pytest.mark.parametrize(
    "line",
    [
        f"DEMO_TOKEN={SECRET}",
        f'demoToken = "{SECRET}"',
        f"demo_token: '{SECRET}'",
        f'"demo_token": "{SECRET}"',
        f'var demoToken string = "{SECRET}"',
        f'demoToken := "{SECRET}"',
        f'$demoToken .= "{SECRET}"',
        f'DEMO_TOKEN ::= "{SECRET}"',
        f'DEMO_TOKEN :::= "{SECRET}"',
        f'DEMO_TOKEN ?= "{SECRET}"',
        f'  "demoToken" => "{SECRET}"',
        f'System.setProperty("DEMO_TOKEN", "{SECRET}")',
        f"<demoToken>{SECRET}</demoToken>",
    ],
)
def test_keyed_value_after_its_name(line: str) -> None:
    [match] = RuleSet([RULE]).matches(line)
    assert (match.column, match.secret) == (line.index(SECRET) + 1, SECRET)


def test_keyed_value_on_the_next_line() -> None:
    [match] = RuleSet([RULE]).matches(f"<demoToken>\n    {SECRET}\n</demoToken>")
    assert (match.line, match.column) == (2, 5)


@pytest.mark.parametrize(
    "text",
    [
        f"value = {SECRET}",  # no name
        f"demo_token = {SECRET}x",  # a longer value
        f"demo is {SECRET}",  # no operator
        f"demo\n\n{SECRET}",  # two lines away
    ],
)
def test_keyed_needs_its_name_just_before(text: str) -> None:
    assert RuleSet([RULE]).matches(text) == []


def test_exact_case_names() -> None:
    rule = keyed("demo", "Demo", ("Etsy", "ETSY"), r"[A-Za-z0-9]{24}", exact_case=True)
    assert rule.keywords == ("etsy",)
    assert RuleSet([rule]).matches(f"SetSysctl = {SECRET}") == []
    assert [m.secret for m in RuleSet([rule]).matches(f"ETSY_KEY={SECRET}")] == [SECRET]


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
