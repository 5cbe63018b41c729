"""Cryptocurrency exchanges' and market-data services' API credentials: Coinbase, Kraken,
KuCoin, Bittrex, Finnhub.

None has a prefix of its own: each is an opaque string known by the service's name before it,
with the length and alphabet the service issues.
"""

from __future__ import annotations

from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import UUID, Rule

__all__ = ["RULES"]

_KUCOIN = ("kucoin",)

RULES: tuple[Rule, ...] = (
    keyed(
        "coinbase-access-token",
        "Coinbase access token",
        ("coinbase",),
        r"[A-Za-z0-9_-]{64}",
        min_entropy=3.5,
    ),
    keyed(
        "kraken-access-token",
        "Kraken API key or private key",
        ("kraken",),
        r"[A-Za-z0-9/=_+-]{80,90}",
        min_entropy=4.0,
    ),
    keyed("kucoin-access-token", "KuCoin API key", _KUCOIN, r"[a-fA-F0-9]{24}", min_entropy=3.0),
    keyed("kucoin-secret-key", "KuCoin API secret", _KUCOIN, UUID, min_entropy=3.0),
    # Bittrex issues its key and its secret in the same shape: one rule finds both.
    keyed(
        "bittrex-api-key",
        "Bittrex API key or secret",
        ("bittrex",),
        r"[A-Za-z0-9]{32}",
        min_entropy=3.0,
    ),
    keyed(
        "finnhub-access-token",
        "Finnhub API key",
        ("finnhub",),
        r"[A-Za-z0-9]{20}",
        min_entropy=3.0,
    ),
)
