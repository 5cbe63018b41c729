"""keyed(): a service's value after the service's name, in the notations of configuration files
and code; the value must look drawn, and must end where the value ends."""

from __future__ import annotations

import pytest

from stacksafe.scan.rules.keyed import keyed
from tests.scan.rules.draw import HEX, Draw, found

d = Draw("keyed")
RULE = keyed("acme-api-key", "Acme API key", ("acme",), r"[a-f0-9]{32}|[A-Za-z]{29}")
SECRET = d(HEX, 32)

# (notation, text with {s}); the secret is on the last line that holds it.
NOTATIONS = [
    ("ini quoted", 'acmeToken="{s}"'),
    ("ini spaced", "acmeToken = {s}"),
    ("json", '{{\n    "acme_token": "{s}"\n}}'),
    ("json escaped newline", '{{"config.ini": "ACME_TOKEN={s}\\nBACKUP_ENABLED=true"}}'),
    ("xml element, value on the next line", "<acmeToken>\n    {s}\n</acmeToken>"),
    ("yaml", "acme_token: '{s}'"),
    ("c#", 'string acmeToken = "{s}";'),
    ("go typed", 'var acmeToken string = "{s}"'),
    ("go short, backticks", "acmeToken := `{s}`"),
    ("php concat", '$acmeToken .= "{s}"'),
    ("java call", 'System.setProperty("ACME_TOKEN", "{s}")'),
    ("logstash", '  "acmeToken" => "{s}"'),
    ("make shell assignment", 'ACME_TOKEN ::= "{s}"'),
    ("make posix assignment", 'ACME_TOKEN :::= "{s}"'),
    ("xml element", "<acmeToken>{s}</acmeToken>"),
    ("make conditional", 'ACME_TOKEN ?= "{s}"'),
    ("shell export", "export ACME_API_KEY={s}"),
]


@pytest.mark.parametrize("template", [n[1] for n in NOTATIONS], ids=[n[0] for n in NOTATIONS])
def test_every_notation_is_read(template: str) -> None:
    text = template.format(s=SECRET)
    line_index = next(i for i, line in enumerate(text.split("\n")) if SECRET in line)
    column = text.split("\n")[line_index].index(SECRET) + 1
    assert found([RULE], text) == [("acme-api-key", line_index + 1, column, SECRET)]


@pytest.mark.parametrize(
    "text",
    [
        f'acme_token = "{SECRET}ab"',  # longer than the format
        f"acme_token = {SECRET[:31]}",  # shorter
        "acme_token = " + "abcdef" + d(HEX, 26),  # a counting run: typed
        "acme_token = " + "a" * 32,  # no digit
        f"token = {SECRET}",  # no service name
        f"acme\n\n{SECRET}",  # too far from the name
        f"acme is {SECRET}",  # no operator
        "acme_token = searchAcmeUsingTheLongName",  # an identifier, not a drawn value
        f'[\n  "acme_token",\n  "{SECRET}"\n]',  # the next item of a JSON array
    ],
)
def test_what_is_not_the_value_is_not_found(text: str) -> None:
    assert found([RULE], text) == []


def test_a_name_pattern_narrows_the_keyword() -> None:
    narrowed = keyed(
        "acme-secret", "Acme secret", ("acme",), r"[a-f0-9]{32}", name=r"acme[_.\-]?secret"
    )
    assert found([narrowed], f"ACME_SECRET={SECRET}") == [("acme-secret", 1, 13, SECRET)]
    assert found([narrowed], f"ACME_ID={SECRET}") == []


def test_exact_case_names() -> None:
    rule = keyed("etsy", "Etsy", ("Etsy", "ETSY"), r"[a-f0-9]{32}", exact_case=True)
    assert rule.keywords == ("etsy",)
    assert found([rule], f"SetSysctl = {SECRET}") == []
    assert found([rule], f"ETSY_KEY={SECRET}") == [("etsy", 1, 10, SECRET)]


def test_values_of_letters_of_one_case_or_digits_only_are_kept() -> None:
    rule = keyed("acme-id", "Acme id", ("acme",), r"[a-f0-9]{16}")
    assert found([rule], "acme_id = cafebabedeadbeef") == [("acme-id", 1, 11, "cafebabedeadbeef")]
    assert found([rule], "acme_id = 8302957164028375") == [("acme-id", 1, 11, "8302957164028375")]
