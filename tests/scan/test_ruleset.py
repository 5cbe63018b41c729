"""The rule set: keywords decide where a rule's regex runs; filters, allow markers, positions."""

from __future__ import annotations

import re
from typing import Any

import pytest

from stacksafe.scan.rules.model import Rule, assigned, token
from stacksafe.scan.ruleset import ALLOW_MARKERS, RuleSet

TOKEN = token("demo-token", "Demo token", ("dmo_",), r"dmo_[A-Za-z0-9]{20}")
SECRET = "dmo_" + "Zq8Lw2Xv9Rt4Yp6Nm3Kb"


def block_rule(lines: int, pattern: str = r"BEGIN\n(?P<secret>[a-z]{4}\n[a-z]{4})\nEND") -> Rule:
    """A rule over several lines, opened by the keyword ``begin``."""
    return Rule(
        id="block",
        description="Block",
        keywords=("begin",),
        pattern=re.compile(pattern),
        lines=lines,
        placeholders=False,
    )


def found(rules: RuleSet, text: str) -> list[tuple[str, int, int, str]]:
    return [(m.rule.id, m.line, m.column, m.secret) for m in rules.matches(text)]


def test_a_token_is_found_with_its_line_and_column() -> None:
    text = f"first line\n  key = '{SECRET}'\n"
    assert found(RuleSet([TOKEN]), text) == [("demo-token", 2, 10, SECRET)]


def test_columns_count_code_points_after_non_ascii_text() -> None:
    text = f"clé = «{SECRET}»\n"
    assert found(RuleSet([TOKEN]), text) == [("demo-token", 1, 8, SECRET)]


def test_keywords_match_without_regard_to_ascii_case() -> None:
    shouted = token("loud", "Loud", ("dmo_",), r"(?i:dmo_)[A-Za-z0-9]{20}")
    assert len(found(RuleSet([shouted]), SECRET.upper().replace("DMO_", "DMO_"))) == 1


def test_the_regex_runs_only_on_lines_holding_a_keyword() -> None:
    # The pattern alone would match line 2; its keyword is only on line 1.
    rule = Rule(id="keyed", description="Keyed", keywords=("magic",), pattern=re.compile(r"\d{6}"))
    text = "magic here\n123456\nmagic 654321\n"
    assert found(RuleSet([rule]), text) == [("keyed", 3, 7, "654321")]


def test_a_rule_may_span_the_lines_after_its_keyword() -> None:
    text = "x\nBEGIN\nabcd\nwxyz\nEND\n"
    assert found(RuleSet([block_rule(4)]), text) == [("block", 3, 1, "abcd\nwxyz")]
    assert found(RuleSet([block_rule(2)]), text) == []


def test_text_without_a_keyword_finds_nothing() -> None:
    assert found(RuleSet([TOKEN]), "nothing to see\n" * 100) == []


@pytest.mark.parametrize("marker", ALLOW_MARKERS)
def test_an_allow_marker_on_the_line_drops_its_findings(marker: str) -> None:
    text = f"a = '{SECRET}'  # {marker}\nb = '{SECRET}'\n"
    assert [line for _, line, _, _ in found(RuleSet([TOKEN]), text)] == [2]


def test_low_entropy_placeholder_and_failed_check_are_dropped() -> None:
    rule = assigned("pw", "Password", ("password",), r"[^\s'\"]{6,}", min_entropy=2.5)
    rules = RuleSet([rule])
    assert found(rules, "password = 'aaaaaaaa'\n") == []  # entropy 0
    assert found(rules, "password = 'your_password_here'\n") == []  # placeholder
    assert found(rules, "password = '${DB_PASSWORD}'\n") == []  # template
    assert [s for *_, s in found(rules, "password = 'Xk9#mQ2v!Lp'\n")] == ["Xk9#mQ2v!Lp"]
    odd = token("odd", "Odd", ("dmo_",), r"dmo_[A-Za-z0-9]{20}", check=lambda s: s[-1] == "x")
    assert found(RuleSet([odd]), SECRET) == []
    assert len(found(RuleSet([odd]), SECRET[:-1] + "x")) == 1


def test_a_generic_match_gives_way_to_a_specific_one() -> None:
    generic = assigned("any", "Any", ("token",), r"[A-Za-z0-9_]{16,}", generic=True)
    rules = RuleSet([generic, TOKEN])
    assert [r for r, *_ in found(rules, f"token = {SECRET}\n")] == ["demo-token"]
    assert [r for r, *_ in found(rules, "token = Qm9vYmFyQmF6UXV4MTIz\n")] == ["any"]


def test_a_token_inside_a_longer_word_is_not_one() -> None:
    assert found(RuleSet([TOKEN]), f"x{SECRET}\n{SECRET}9\n") == []


def test_rule_ids_are_unique_and_keywords_lower_case() -> None:
    with pytest.raises(ValueError, match="unique"):
        RuleSet([TOKEN, TOKEN])
    with pytest.raises(ValueError, match="lower-case"):
        token("bad", "Bad", ("DMO_",), r"DMO_\w+")
    with pytest.raises(ValueError, match="lower-case"):
        token("bad", "Bad", (), r"x")


def test_without_drops_rules_by_id_and_a_match_repr_holds_no_secret() -> None:
    rules = RuleSet([TOKEN])
    assert found(rules.without(["demo-token"]), SECRET) == []
    (match,) = rules.matches(SECRET)
    assert SECRET not in repr(match)
    assert "demo-token" in repr(match)


def test_keywords_on_many_lines_and_one_long_line_find_every_token() -> None:
    short_lines = "".join(f"k{n} = '{SECRET}'\n" for n in range(50))
    long_line = " ".join(f"'{SECRET}'" for _ in range(2000))
    text = "x\n" + short_lines + long_line + "\n" + short_lines
    found_at = [(line, column) for _, line, column, _ in found(RuleSet([TOKEN]), text)]
    expected_short = [(n + 2, len(f"k{n} = '") + 1) for n in range(50)]
    expected_long = [(52, 2 + n * (len(SECRET) + 3)) for n in range(2000)]
    after = [(line + 51, column) for line, column in expected_short]
    assert found_at == expected_short + expected_long + after


def test_thousands_of_matches_on_one_huge_line_and_a_marker_at_its_far_end() -> None:
    # Each match used to search back to its line's start and copy the whole line for the
    # allow markers: a 6 MB minified line with 3,000 tokens took about 20 s (quadratic). The
    # time is not asserted here (no timed unit tests: bench/ holds speed); what is, is that the
    # marker read once per line still covers every match of it.
    generic = assigned("any", "Any", ("var",), r"[A-Za-z0-9_]{16,}", generic=True)
    filler = "function(a){return a+1};" * 80
    line = "".join(f"{filler}var k='{SECRET}';" for _ in range(3000))
    text = "head\n" + line + "  # stacksafe:allow\n" + f"k = '{SECRET}'\n"
    matches = RuleSet([TOKEN, generic]).matches(text)
    # The marker at the far end of the huge line drops its 3,000 matches; line 3 is kept.
    assert [(m.rule.id, m.line, m.column) for m in matches] == [("demo-token", 3, 6)]


def test_overlapping_windows_of_a_multi_line_rule_are_searched_once() -> None:
    rule = block_rule(250)
    # Thousands of keyword lines, each opening a 250-line window, before and around one block.
    text = "begin here\n" * 20000 + "BEGIN\nabcd\nwxyz\nEND\n" + "begin again\n" * 100
    searches = _Counting(rule.pattern)
    counted = Rule(**{**{f: getattr(rule, f) for f in rule.__slots__}, "pattern": searches})
    assert found(RuleSet([counted]), text) == [("block", 20002, 1, "abcd\nwxyz")]
    # The 20,100 keyword lines' windows overlap into one: one search, not one per line.
    assert searches.calls == 1


class _Counting:
    """A compiled pattern that counts its searches (the rule set calls ``finditer``)."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self._pattern = pattern
        self.groupindex = pattern.groupindex
        self.calls = 0

    def finditer(self, text: str, pos: int = 0, endpos: int = 2**63 - 1) -> Any:
        self.calls += 1
        return self._pattern.finditer(text, pos, endpos)


def test_a_generic_match_overlapping_any_of_many_specific_ones_gives_way() -> None:
    generic = assigned("any", "Any", ("token",), r"[A-Za-z0-9_ ]{16,}", generic=True)
    # The generic value spans two tokens; far-away specific matches come before and after.
    text = f"{SECRET}\n" * 200 + f"token = {SECRET} {SECRET}\n" + f"{SECRET}\n" * 200
    rules = found(RuleSet([generic, TOKEN]), text)
    assert {r for r, *_ in rules} == {"demo-token"}
    assert len(rules) == 402


@pytest.mark.parametrize(
    "marker",
    ["pragma:allowlist secret", "pragma: allowlist-secret", "pragma: whitelist secret"],
)
def test_detect_secrets_other_spellings_of_its_marker_are_honoured(marker: str) -> None:
    text = f"a = '{SECRET}'  # {marker}\nb = '{SECRET}'\n"
    assert [line for _, line, _, _ in found(RuleSet([TOKEN]), text)] == [2]


def test_a_comment_allowing_the_next_line_drops_that_line_only() -> None:
    text = (
        "    # pragma: allowlist nextline secret\n"
        f"a = '{SECRET}'\n"
        f"b = '{SECRET}'\n"
        # Not alone on its line: it would hide what the next line holds from a reader.
        f"c = 1  # pragma: allowlist nextline secret\nd = '{SECRET}'\n"
    )
    assert [line for _, line, _, _ in found(RuleSet([TOKEN]), text)] == [3, 5]


def test_an_allowed_specific_match_does_not_come_back_as_a_generic_one() -> None:
    # A block allowed on its first line (a Kubernetes Secret on its apiVersion line): the value
    # on a later, unmarked line is the block's, not a generic rule's finding.
    block = block_rule(2, r"BEGIN[^\n]*\ntoken = (?P<secret>\w{16,})")
    generic = assigned("any", "Any", ("token",), r"[A-Za-z0-9_]{16,}", generic=True)
    rules = RuleSet([generic, block])
    text = "BEGIN  # stacksafe:allow\ntoken = Qm9vYmFyQmF6UXV4MTIz\n"
    assert found(rules, text) == []
    assert [r for r, *_ in found(rules, text.replace("# stacksafe:allow", ""))] == ["block"]


def test_a_disabled_specific_rule_keeps_generic_rules_off_its_text() -> None:
    # Disabling a token rule (test keys in fixtures) must not bring the tokens back as
    # a generic assignment's findings; a disabled generic rule simply does not run.
    generic = assigned("any", "Any", ("token",), r"[A-Za-z0-9_]{16,}", generic=True)
    text = f"token = {SECRET}\ntoken = Qm9vYmFyQmF6UXV4MTIz\n"
    assert [
        (r, line)
        for r, line, *_ in found(RuleSet.disabling([generic, TOKEN], ["demo-token"]), text)
    ] == [("any", 2)]
    assert found(RuleSet.disabling([generic, TOKEN], ["demo-token", "any"]), text) == []
    assert found(RuleSet([generic, TOKEN]).without(["demo-token"]).without(["any"]), text) == []
