"""Commerce, shipping and travel rules: real-format credentials found, lookalikes not."""

from __future__ import annotations

from stacksafe.scan.rules import commerce
from tests.scan.rules.fakes import Fakes, family_tests

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

LOOKALIKES = [
    # "etSy" inside another word is not Etsy.
    'SetSysctl = "ks2ph4a4hkyb26vpk2fvt2t6"',
    # "lob" inside "global" and "blob" is not Lob.
    f"global_key = live_{F.hex(35)}",
    "EZAK" + "A" * 54,
    "duffel_test_" + "x" * 43,
]

test_finds_each_credential, test_every_rule_has_a_case, test_ignores_lookalikes = family_tests(
    commerce.RULES, CASES, LOOKALIKES
)
