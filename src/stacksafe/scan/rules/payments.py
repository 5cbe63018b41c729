"""Payment processors' credentials: Stripe, Square, PayPal Braintree, Shopify, Plaid,
Flutterwave, GoCardless, Adyen, Finicity.

Stripe's keys say their kind and mode in the prefix: ``sk_`` secret, ``rk_`` restricted, ``live``
or ``test``; ``whsec_`` signs webhooks. Test-mode keys are reported under their own id
(``stripe-test-key``): they open the account's test data and settings, every peer reports them,
and a project that keeps them in fixtures disables that one id. Publishable keys (``pk_``) are
meant to be public and are not reported.
"""

from __future__ import annotations

from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import UUID, Rule, token

__all__ = ["RULES"]

# The test key Stripe's own documentation prints for every reader: not anyone's secret.
_STRIPE_DOCUMENTATION_KEYS = frozenset({"sk_test_4eC39HqLyjWDarjtT1zdp7dc"})
_PLAID = ("plaid",)
_FLUTTERWAVE_HEX = r"[a-hA-H0-9]{32}"
_FINICITY = ("finicity",)

RULES: tuple[Rule, ...] = (
    token(
        "stripe-access-key",
        "Stripe live secret or restricted key",
        ("sk_live_", "rk_live_", "sk_prod_", "rk_prod_"),
        r"[sr]k_(?:live|prod)_[A-Za-z0-9]{10,160}",
        min_entropy=3.0,
    ),
    token(
        "stripe-test-key",
        "Stripe test-mode secret or restricted key",
        ("sk_test_", "rk_test_"),
        r"[sr]k_test_[A-Za-z0-9]{10,160}",
        min_entropy=3.0,
        check=lambda secret: secret not in _STRIPE_DOCUMENTATION_KEYS,
    ),
    token(
        "stripe-webhook-secret",
        "Stripe webhook signing secret",
        ("whsec_",),
        r"whsec_[A-Za-z0-9]{24,64}",
        min_entropy=3.0,
    ),
    token(
        "square-access-token",
        "Square access token",
        ("sq0atp-", "eaaa"),
        r"(?:sq0atp-[A-Za-z0-9_-]{22,60}|(?<![/+])EAAA[A-Za-z0-9_-]{60}(?![/+]))",
        min_entropy=3.0,
    ),
    token(
        "square-oauth-secret",
        "Square OAuth application secret",
        ("sq0csp-",),
        r"sq0csp-[A-Za-z0-9_-]{43}",
        min_entropy=3.0,
    ),
    token(
        "paypal-braintree-access-token",
        "PayPal Braintree access token",
        ("access_token$production$",),
        r"access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32}",
        min_entropy=3.0,
    ),
    token(
        "shopify-access-token",
        "Shopify access token",
        ("shpat_", "shpca_", "shppa_", "shptka_"),
        r"shp(?:at|ca|pa|tka)_[A-Za-z0-9]{32,64}",
        min_entropy=3.0,
    ),
    token(
        "shopify-shared-secret",
        "Shopify app shared secret",
        ("shpss_",),
        r"shpss_[A-Za-z0-9]{32,64}",
        min_entropy=3.0,
    ),
    token(
        "plaid-access-token",
        "Plaid access token",
        ("access-sandbox-", "access-development-", "access-production-"),
        rf"access-(?:sandbox|development|production)-{UUID}",
        min_entropy=3.0,
    ),
    keyed("plaid-client-id", "Plaid client id", _PLAID, r"[A-Za-z0-9]{24}", min_entropy=3.5),
    keyed("plaid-secret", "Plaid secret", _PLAID, r"[A-Za-z0-9]{30}", min_entropy=3.5),
    token(
        "flutterwave-secret-key",
        "Flutterwave secret key",
        ("flwseck",),
        rf"FLWSECK(?:_TEST)?-{_FLUTTERWAVE_HEX}-X",
        min_entropy=2.5,
    ),
    token(
        "flutterwave-public-key",
        "Flutterwave public key",
        ("flwpubk",),
        rf"FLWPUBK(?:_TEST)?-{_FLUTTERWAVE_HEX}-X",
        min_entropy=2.5,
    ),
    token(
        "flutterwave-encryption-key",
        "Flutterwave encryption key",
        ("flwseck",),
        r"FLWSECK(?:_TEST)?-?[a-hA-H0-9]{12}",
        min_entropy=2.5,
    ),
    keyed(
        "gocardless-access-token",
        "GoCardless access token",
        ("gocardless",),
        r"(?:live|sandbox)_[A-Za-z0-9_=-]{40}",
        min_entropy=3.0,
    ),
    keyed(
        "adyen-api-key",
        "Adyen API key",
        ("adyen",),
        r"AQE[A-Za-z0-9+/=_.-]{60,200}",
        min_entropy=3.5,
    ),
    keyed("finicity-api-key", "Finicity API key", _FINICITY, r"[a-fA-F0-9]{32}", min_entropy=3.0),
    keyed(
        "finicity-client-secret",
        "Finicity client secret",
        _FINICITY,
        r"[A-Za-z0-9]{20}",
        min_entropy=3.0,
    ),
)
