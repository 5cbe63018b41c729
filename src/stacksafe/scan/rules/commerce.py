"""Commerce, shipping and travel APIs' credentials: Duffel, EasyPost, Shippo, Lob, Etsy,
Squarespace.

Duffel (``duffel_live_``), EasyPost (``EZAK``/``EZTK``) and Shippo (``shippo_live_``) tokens carry
their issuer in the prefix; Lob's (``live_``/``test_``, ``live_pub_``) and the others are known by
the service's name before them.
"""

from __future__ import annotations

from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import UUID, Rule, token

__all__ = ["RULES"]

# "lob" alone is inside "global" and "blob": the name must go on (lob_token, lobKey, LOB-API...).
_LOB = ("lob_", "lob-", "lob.", "lobapi", "lobkey", "lobtoken", "lobsecret")

RULES: tuple[Rule, ...] = (
    token(
        "duffel-api-token",
        "Duffel API token",
        ("duffel_test_", "duffel_live_"),
        r"duffel_(?:test|live)_[A-Za-z0-9_=-]{43}",
        min_entropy=3.0,
    ),
    token(
        "easypost-api-token",
        "EasyPost production API key",
        ("ezak",),
        r"EZAK[A-Za-z0-9]{54}",
        min_entropy=3.0,
    ),
    token(
        "easypost-test-api-token",
        "EasyPost test API key",
        ("eztk",),
        r"EZTK[A-Za-z0-9]{54}",
        min_entropy=3.0,
    ),
    token(
        "shippo-api-token",
        "Shippo API token",
        ("shippo_live_", "shippo_test_"),
        r"shippo_(?:live|test)_[a-fA-F0-9]{40}",
        min_entropy=3.0,
    ),
    keyed(
        "lob-api-key",
        "Lob secret API key",
        _LOB,
        r"(?:live|test)_[a-f0-9]{35}",
        min_entropy=3.0,
    ),
    keyed(
        "lob-pub-api-key",
        "Lob publishable API key",
        _LOB,
        r"(?:live|test)_pub_[a-f0-9]{31}",
        min_entropy=3.0,
    ),
    keyed(
        "etsy-access-token",
        "Etsy API key",
        ("ETSY", "Etsy", "etsy"),
        r"[A-Za-z0-9]{24}",
        min_entropy=3.0,
        exact_case=True,
    ),
    keyed(
        "squarespace-access-token",
        "Squarespace API key",
        ("squarespace",),
        UUID,
        min_entropy=3.0,
    ),
)
