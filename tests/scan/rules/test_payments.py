"""Payment processors' rules: real-format credentials found, lookalikes and publishable keys
not."""

from __future__ import annotations

from stacksafe.scan.rules import payments
from tests.scan.rules.fakes import Fakes, family_tests

F = Fakes(303)

CASES = [
    ("stripe-access-key", "sk_live_" + F.alnum(99), "STRIPE_SECRET_KEY={}"),
    ("stripe-test-key", "rk_test_" + F.alnum(24), "stripe.api_key = '{}'"),
    ("stripe-webhook-secret", "whsec_" + F.alnum(32), "endpoint_secret = '{}'"),
    ("square-access-token", "EAAA" + F.b64url(60), '"SQUARE_TOKEN": "{}"'),
    ("square-oauth-secret", "sq0csp-" + F.b64url(43), "square_secret={}"),
    (
        "paypal-braintree-access-token",
        f"access_token$production${F.lower(16)}${F.hex(32)}",
        "BRAINTREE={}",
    ),
    ("shopify-access-token", "shpat_" + F.hex(32), "X-Shopify-Access-Token: {}"),
    ("shopify-shared-secret", "shpss_" + F.alnum(32), "SHOPIFY_API_SECRET={}"),
    ("plaid-access-token", "access-production-" + F.uuid(), "token = '{}'"),
    ("plaid-client-id", F.hex(24), "PLAID_CLIENT_ID={}"),
    ("plaid-secret", F.hex(30), "plaid_secret: {}"),
    ("flutterwave-secret-key", f"FLWSECK_TEST-{F.hex(32)}-X", "FLW_SECRET_KEY={}"),
    ("flutterwave-public-key", f"FLWPUBK-{F.hex(32)}-X", "publicKey: '{}'"),
    ("flutterwave-encryption-key", "FLWSECK_TEST" + F.hex(12), "FLW_ENCRYPTION_KEY={}"),
    ("gocardless-access-token", "live_" + F.b64url(40), "GOCARDLESS_ACCESS_TOKEN={}"),
    ("adyen-api-key", "AQE" + F.b64url(120), "ADYEN_API_KEY={}"),
    ("finicity-api-key", F.hex(32), "finicity_app_key = '{}'"),
    ("finicity-client-secret", F.alnum(20), "FINICITY_SECRET={}"),
]

LOOKALIKES = [
    # Publishable keys are public by design.
    "pk_live_j5krY8XTgIcDaHDb3YrsAfCl",
    "sk_live_",
    "stripe.api_key = 'sk_test_4eC39HqLyjWDarjtT1zdp7dc'",
    "sk_live_AAAAAAAAAAAAAAAAAAAAAAAA",
    'nonMatchingToken := "task_test_' + F.alnum(30) + '"',
    "sq0csp-ABCDEFGHIJK_LMNOPQRSTUVWXYZ-0123456789abcd",
    # Square's "EAAA" inside base64 data, not a token.
    "data:image/png;base64,iVBORw0KGgo/EAAA" + F.alnum(60) + "/x",
    "shpat_" + "0" * 32,
]

test_finds_each_credential, test_every_rule_has_a_case, test_ignores_lookalikes = family_tests(
    payments.RULES, CASES, LOOKALIKES
)
