"""dotenv and JSON: strict parsing with clear errors, and export → import is the identity."""

from __future__ import annotations

import pytest
from dotenv import dotenv_values
from hypothesis import given
from hypothesis import strategies as st

from stacksafe.core.transfer import decode_utf8, detect_format, parse, render
from stacksafe.core.validation import KEY_PATTERN, SHELL_NAME
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

values = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=40)
keys = st.from_regex(KEY_PATTERN, fullmatch=True).filter(lambda k: len(k) <= 255)


def sourceable(value: str) -> bool:
    """Whether a dotenv export can carry ``value`` safely for sh (core.transfer._dotenv_quote)."""
    needs_double_quotes = "'" in value or "\\\\" in value or value.endswith("\\")
    return not (needs_double_quotes and ("$" in value or "`" in value))


@given(st.dictionaries(keys, values, max_size=10))
def test_render_then_parse_is_the_identity(data: dict[str, str]) -> None:
    wrapped = {k: SecretValue(v) for k, v in data.items()}
    for fmt in ("dotenv", "json"):
        try:
            parsed = parse(render(wrapped, fmt), fmt, "export")
        except InvalidInput:
            # dotenv refuses what it cannot write safely for a shell (tests/core/test_exports.py):
            # keys a shell would not assign, and values no quoting carries.
            assert fmt == "dotenv"
            assert not all(SHELL_NAME.fullmatch(k) for k in data) or not all(
                sourceable(v) for v in data.values()
            )
            continue
        assert {k: v.reveal() for k, v in parsed.items()} == data


@given(st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True), values, max_size=8))
def test_dotenv_export_is_read_identically_by_python_dotenv_itself(data: dict[str, str]) -> None:
    import io

    data = {k: v for k, v in data.items() if sourceable(v)}
    text = render({k: SecretValue(v) for k, v in data.items()}, "dotenv")
    assert dotenv_values(stream=io.StringIO(text), interpolate=False) == data


def test_dotenv_parsing_handles_comments_quotes_and_export() -> None:
    text = "# comment\n\nexport A=1\nB='two words'\nC=\"line\\nbreak\"\nD=\n"
    parsed = {k: v.reveal() for k, v in parse(text, "dotenv", "f").items()}
    assert parsed == {"A": "1", "B": "two words", "C": "line\nbreak", "D": ""}


def test_dotenv_values_are_not_interpolated() -> None:
    parsed = parse("A=x\nB=${A}$HOME\n", "dotenv", "f")
    assert parsed["B"].reveal() == "${A}$HOME"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("A=1\nnot a pair at all\n", "line 2: cannot parse"),
        ("A=1\nLONELY\n", "line 2 has no '='"),
        ("A=1\nMIIE+/x=abc\n", "line 2: the key is not valid"),
        ("A=1\nB=2\nA=3\n", "line 3: 'A' is already set on line 1"),
        ("A='unterminated\n", "line 1: cannot parse"),
    ],
)
def test_malformed_dotenv_names_the_line(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse(text, "dotenv", ".env")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"A": "1",}', "not valid JSON"),
        ('["A"]', "must hold a JSON object"),
        ('{"PORT": 8080}', "'PORT' is a JSON int, not a string"),
        ('{"A": "1", "A": "2"}', "'A' appears twice"),
    ],
)
def test_malformed_json_is_explained(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse(text, "json", "x.json")


def test_json_errors_do_not_quote_values() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse('{"A": "hunter2-secret" "B": 1}', "json", "x.json")
    assert "hunter2" not in str(caught.value)


def test_non_utf8_input_is_refused_with_the_offset() -> None:
    with pytest.raises(InvalidInput, match=r"not UTF-8 text.*offset 2"):
        decode_utf8(b"A=\xff\n", ".env")


def test_format_is_detected_from_the_file_name() -> None:
    assert detect_format("x.JSON") == "json"
    assert detect_format(".env") == "dotenv"
    assert detect_format("-") == "dotenv"
