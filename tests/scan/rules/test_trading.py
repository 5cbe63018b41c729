"""Exchanges' and market-data rules: credentials found next to the service's name only."""

from __future__ import annotations

from stacksafe.scan.rules import trading
from tests.scan.rules.fakes import Fakes, family_tests

F = Fakes(404)

CASES = [
    ("coinbase-access-token", F.b64url(64), "COINBASE_API_SECRET={}"),
    (
        "kraken-access-token",
        F.alnum(40) + "/" + F.alnum(30) + "+" + F.alnum(17),
        "kraken_private_key = '{}'",
    ),
    ("kucoin-access-token", F.hex(24), "kucoin_api_key: {}"),
    ("kucoin-secret-key", F.uuid(), "KUCOIN_API_SECRET={}"),
    ("bittrex-api-key", F.lower(32), "bittrexApiSecret = '{}'"),
    ("finnhub-access-token", F.lower(20), "FINNHUB_TOKEN={}"),
]

LOOKALIKES = [
    # The right shape without the service's name.
    f"api_secret = {F.b64url(64)}",
    f"uuid = {F.uuid()}",
    # A typed value next to the name.
    "bittrex_key = abcdefghijklmnopqrstuvwxyz012345",
    "KUCOIN_KEY=000000000000000000000000",
]

test_finds_each_credential, test_every_rule_has_a_case, test_ignores_lookalikes = family_tests(
    trading.RULES, CASES, LOOKALIKES
)
