"""The service policy the catalogue applies to both service families: a mask in a token's place
is not reported, a typed body of the issuer's exact format is (most likely a real token or a
copy of one); a value without a prefix must still look drawn."""

from __future__ import annotations

import pytest

from stacksafe.scan.rules.catalogue import RULES
from stacksafe.scan.rules.checks import counting_run, masked
from stacksafe.scan.ruleset import RuleSet
from tests.scan.rules.draw import ALNUM, Draw

CATALOGUE = RuleSet(RULES)
d = Draw("services")


@pytest.mark.parametrize(
    ("text", "rule_id"),
    [
        # Typed bodies of the right prefix, length and alphabet (peers' fixtures label them).
        ("sk-1234567c7Qu0EjDIEWdcT3BlbkFJ83uCF0K4yw7RzpY39bio", "openai-api-key"),
        ("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", "groq-api-key"),
        ("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", "tavily-api-key"),
        ("COSMO_API_KEY=cosmo_abcdef123455678908359f980be71580", "wundergraph-api-key"),
        ("SONAR_TOKEN=sqp_abcdef123455678908359f980be71580cd3da370", "sonar-api-token"),
        ("lin_api_abcdefgiRuRkwmbYFY7xGlBxe8GUg8YNBzaRyF4W", "linear-api-key"),
        ("sbp_7558c5a93d6f38dd038df5cc2a7c3d4d7babcdef", "supabase-access-token"),
        ("rubygems_12345674dc42cb40d2c69cbb66e7a9b6c8d7820bb7c09b8e", "rubygems-api-token"),
        (
            "figd_aBcDeFgHiJkLmNoPqRsT1234567890abcdefghijklmnopqrstuvwxyz",
            "figma-personal-access-token",
        ),
        ("glpat-aBcDeFgHiJkLmNoPqRsT", "gitlab-pat"),
        ("dapi123456789abcdef123456789abcdef00", "databricks-api-token"),
        (
            "CLOJARS_0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab",
            "clojars-api-token",
        ),
        ("SRC_ACCESS_TOKEN=sgp_" + "0123456789abcdef" * 2 + "01234567", "sourcegraph-access-token"),
        (
            "discord.com/api/webhooks/148392840000482200/abcdefghijklmnopqrstuvwxyz0123456789abcdefghi"
            "jklmnopqrstuvwxyz0123456789",
            "discord-webhook-url",
        ),
    ],
)
def test_a_typed_body_of_the_exact_format_is_reported(text: str, rule_id: str) -> None:
    assert [m.rule.id for m in CATALOGUE.matches(text)] == [rule_id]


@pytest.mark.parametrize(
    "text",
    [
        "sk_live_" + "x" * 24,
        "hf_" + "x" * 34,
        "hf_UdYjVqYvybBLEhIrwwEUYjOgkeyexample",
        "glpat-<your-token-goes-here>",
        "GITLAB_TOKEN=glpat-${GITLAB_TOKEN_VALUE}",
        "npm_NFX6dCpmIWvQ7megnY0AtQwkoKzWcEXAMPLE",
        "ghp_" + "*" * 36,
        "dckr_pat_" + "." * 3 + d(ALNUM, 27),
    ],
)
def test_a_mask_in_a_tokens_place_is_not_reported(text: str) -> None:
    assert CATALOGUE.matches(text) == []


def test_an_unprefixed_value_must_still_look_drawn() -> None:
    drawn = d(ALNUM[:-10] + "0123456789", 32)
    assert [m.secret for m in CATALOGUE.matches(f"TRELLO_KEY={drawn}")] == [drawn]
    assert CATALOGUE.matches("TRELLO_KEY=abcdef" + d("0123456789", 26)) == []


@pytest.mark.parametrize(
    ("secret", "typed"),
    [
        ("x123456y", True),
        ("FEDCBAq", True),
        ("klmnop", True),
        ("abcde9xyz", False),  # five in a row
        ("x6789abcd", False),  # across digits and letters
    ],
)
def test_counting_runs(secret: str, typed: bool) -> None:
    assert counting_run(secret) is typed


def test_random_tokens_hold_no_counting_run_nor_mask() -> None:
    tokens = [d(ALNUM, 40) for _ in range(2000)]
    assert not any(counting_run(t) or masked(t) for t in tokens)
