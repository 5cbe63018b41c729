"""Commerce, shipping and travel rules: real-format credentials found, lookalikes not."""

from __future__ import annotations

import pytest

from stacksafe.scan.rules import commerce
from tests.scan.rules.fakes import Fakes, assert_clean, assert_found

F = Fakes(505)

CASES = [
    ("duffel-api-token", "duffel_live_" + F.b64url(43), "DUFFEL_ACCESS_TOKEN={}"),
    ("easypost-api-token", "EZAK" + F.alnum(54), "EasyPost::Client.new(api_key: '{}')"),
    ("easypost-test-api-token", "EZTK" + F.alnum(54), "EASYPOST_TEST_KEY={}"),
    ("shippo-api-token", "shippo_live_" + F.hex(40), "Authorization: ShippoToken {}"),
    ("lob-api-key", "live_" + F.hex(35), "LOB_API_KEY={}"),
    ("lob-pub-api-key", "test_pub_" + F.hex(31), "lob_publishable: {}"),
    ("etsy-access-token", F.lower(24), "ETSY_API_KEY={}"),
    ("squarespace-access-token", F.uuid(), "squarespace_api_key = '{}'"),
]


@pytest.mark.parametrize(("rule_id", "secret", "line"), CASES, ids=[c[0] for c in CASES])
def test_finds_each_credential(rule_id: str, secret: str, line: str) -> None:
    assert_found(commerce.RULES, line.format(secret), rule_id, secret)


def test_every_rule_has_a_case() -> None:
    assert {c[0] for c in CASES} == {r.id for r in commerce.RULES}


@pytest.mark.parametrize(
    "text",
    [
        # "etSy" inside another word is not Etsy.
        'SetSysctl = "ks2ph4a4hkyb26vpk2fvt2t6"',
        # "lob" inside "global" and "blob" is not Lob.
        f"global_key = live_{F.hex(35)}",
        "EZAK" + "A" * 54,
        "duffel_test_" + "x" * 43,
    ],
)
def test_ignores_lookalikes(text: str) -> None:
    assert_clean(commerce.RULES, text)
