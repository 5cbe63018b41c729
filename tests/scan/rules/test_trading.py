"""Exchanges' and market-data rules: credentials found next to the service's name only."""

from __future__ import annotations

import pytest

from stacksafe.scan.rules import trading
from tests.scan.rules.fakes import Fakes, assert_clean, assert_found

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


@pytest.mark.parametrize(("rule_id", "secret", "line"), CASES, ids=[c[0] for c in CASES])
def test_finds_each_credential(rule_id: str, secret: str, line: str) -> None:
    assert_found(trading.RULES, line.format(secret), rule_id, secret)


def test_every_rule_has_a_case() -> None:
    assert {c[0] for c in CASES} == {r.id for r in trading.RULES}


@pytest.mark.parametrize(
    "text",
    [
        # The right shape without the service's name.
        f"api_secret = {F.b64url(64)}",
        f"uuid = {F.uuid()}",
        # A typed value next to the name.
        "bittrex_key = abcdefghijklmnopqrstuvwxyz012345",
        "KUCOIN_KEY=000000000000000000000000",
    ],
)
def test_ignores_lookalikes(text: str) -> None:
    assert_clean(trading.RULES, text)
