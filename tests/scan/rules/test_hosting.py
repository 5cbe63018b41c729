"""Hosting and edge rules (DigitalOcean, Heroku, Fly.io, Cloudflare, Scalingo, Netlify, Vercel,
OpenShift, Okta, Supabase): real-format tokens are found with their rule, line and column;
placeholders and lookalikes are not."""

from __future__ import annotations

from stacksafe.scan.rules.hosting import RULES
from tests.scan.rules.draw import ALNUM, B64, HEX, Draw, family_tests

d = Draw("hosting")
_WORD = ALNUM + "_-"
_UUID = f"{d(HEX, 8)}-{d(HEX, 4)}-{d(HEX, 4)}-{d(HEX, 4)}-{d(HEX, 12)}"

CASES = [
    ("digitalocean-pat", "DO_TOKEN={}", "dop_v1_" + d(HEX, 64)),
    ("digitalocean-access-token", "digital_oc = '{}';", "doo_v1_" + d(HEX, 64)),
    ("digitalocean-refresh-token", "refresh: {}", "dor_v1_" + d(HEX, 64)),
    ("heroku-api-key", "HEROKU_API_KEY={}", _UUID),
    ("heroku-api-key-v2", "key = {}", "HRKU-AA" + d(_WORD, 58)),
    ("flyio-access-token", "FLY_API_TOKEN={}", "fo1_" + d(_WORD, 43)),
    ("flyio-access-token", 'Authorization: "FlyV1 {}"', "fm2_" + d(B64, 160) + "=="),
    ("cloudflare-api-token", "CLOUDFLARE_API_TOKEN={}", "cfat_" + d(ALNUM, 48)),
    ("cloudflare-global-api-key", 'cloudflare_global_api_key = "{}"', d(HEX, 37)),
    ("cloudflare-api-key", "CLOUDFLARE_API_KEY: {}", d(_WORD, 40)),
    ("cloudflare-origin-ca-key", "ORIGIN_CA: {}", "v1.0-" + d(HEX, 24) + "-" + d(HEX, 146)),
    ("scalingo-api-token", "SCALINGO_TOKEN={}", "tk-us-" + d(_WORD, 48)),
    ("netlify-access-token", "NETLIFY_AUTH_TOKEN={}", "nfp_" + d(ALNUM, 36)),
    ("netlify-access-token-legacy", 'netlify_token: "{}"', d(_WORD, 43)),
    ("vercel-token", "VERCEL_TOKEN={}", "vcp_" + d(ALNUM, 56)),
    ("vercel-token-legacy", 'vercel_token = "{}"', d(ALNUM, 24)),
    ("openshift-user-token", "oc login --token={}", "sha256~" + d(_WORD, 43)),
    ("okta-access-token", "OKTA_API_TOKEN={}", "00" + d(_WORD, 40)),
    ("supabase-access-token", "SUPABASE_ACCESS_TOKEN={}", "sbp_" + d(HEX, 40)),
    ("supabase-secret-key", "SUPABASE_SECRET_KEY={}", "sb_secret_" + d(_WORD, 32)),
]


STAND_INS = [
    "dop_v1_" + "0" * 64,
    "HEROKU_APP_NAME=my-heroku-app-staging-0000000000",
    "heroku_id: 12345678-ABCD-ABCD-ABCD-1234567890AB",  # a counting run: typed, not drawn
    "cfat_ldxiugEl907l4fW6ViLbhZled5GG95J90dRktokenexample",
    "xcfat_" + d(ALNUM, 48),  # glued to a word
    "nfp_0i5OM4MV7L02wV3E6rrwiTwhvtestEXAMPLE",
    "vcp_abc",
    "rookTable = 0023452Lllk2KqjLBvaxANWEgTd7bqjsxjo8aZj0wd",  # "okTa" inside a word
    "https://api.cloudflare.com/client/v4/zones",
]

(
    test_real_format_is_found,
    test_every_rule_has_a_case,
    test_placeholder_or_lookalike_is_not_found,
) = family_tests(RULES, CASES, STAND_INS)
