"""Tokens of application hosting and edge platforms: DigitalOcean, Heroku, Fly.io, Cloudflare,
Scalingo, Netlify, Vercel, OpenShift, Okta, Supabase.

Facts from the issuers: DigitalOcean ``do[por]_v1_`` + 64 hex; Heroku API keys are UUIDs (named)
or ``HRKU-`` tokens; Fly.io ``fo1_`` / ``fm1a_`` / ``fm1r_`` / ``fm2_`` macaroons; Cloudflare's
newer tokens ``cfat_`` / ``cfut_`` / ``cfk_`` + 48 characters, Origin CA keys ``v1.0-<24 hex>-<146
hex>``, older keys 37 hex (global) or 40 characters (API tokens) next to the name; Scalingo
``tk-us-``; Netlify ``nfp_``; Vercel ``vc?_``; OpenShift ``sha256~`` + 43; Okta SSWS
tokens ``00`` + 40 next to the name; Supabase ``sbp_`` (+ 40 hex) and ``sb_secret_``.
"""

from __future__ import annotations

from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import Rule, token

__all__ = ["RULES"]

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

RULES: tuple[Rule, ...] = (
    *(
        token(id, description, [f"{prefix}_v1_"], rf"{prefix}_v1_[a-f0-9]{{64}}", min_entropy=3.0)
        for id, description, prefix in (
            ("digitalocean-pat", "DigitalOcean personal access token", "dop"),
            ("digitalocean-access-token", "DigitalOcean OAuth access token", "doo"),
            ("digitalocean-refresh-token", "DigitalOcean OAuth refresh token", "dor"),
        )
    ),
    keyed("heroku-api-key", "Heroku API key", ("heroku",), _UUID, min_entropy=3.0),
    token(
        "heroku-api-key-v2",
        "Heroku API key",
        ["hrku-"],
        r"HRKU-[0-9A-Za-z_\-]{36,64}",
        min_entropy=3.0,
    ),
    token(
        "flyio-access-token",
        "Fly.io access token",
        ["fo1_", "fm1a_", "fm1r_", "fm2_"],
        r"fo1_[\w\-]{43}|fm1[ar]_[A-Za-z0-9+/]{100,}={0,3}|fm2_[A-Za-z0-9+/]{100,}={0,3}",
        min_entropy=4.0,
    ),
    token(
        "cloudflare-api-token",
        "Cloudflare API token or key",
        ["cfat_", "cfut_", "cfk_"],
        r"cf(?:at|ut|k)_[A-Za-z0-9]{48}",
        min_entropy=3.5,
    ),
    keyed(
        "cloudflare-global-api-key",
        "Cloudflare global API key",
        ("cloudflare",),
        r"[a-f0-9]{37}",
        min_entropy=3.0,
    ),
    keyed(
        "cloudflare-api-key",
        "Cloudflare API token (legacy, unprefixed)",
        ("cloudflare",),
        r"[A-Za-z0-9_\-]{40}",
        min_entropy=3.0,
    ),
    token(
        "cloudflare-origin-ca-key",
        "Cloudflare Origin CA key",
        ["v1.0-"],
        r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}",
        min_entropy=3.0,
    ),
    token(
        "scalingo-api-token",
        "Scalingo API token",
        ["tk-us-"],
        r"tk-us-[\w\-]{48}",
        min_entropy=3.0,
    ),
    token(
        "netlify-access-token",
        "Netlify personal access token",
        ["nfp_"],
        r"nfp_[A-Za-z0-9]{36}",
        min_entropy=3.5,
    ),
    keyed(
        "netlify-access-token-legacy",
        "Netlify access token (legacy, unprefixed)",
        ("netlify",),
        # A prefixed token is the rule above's.
        r"(?!nf[a-z]_)[A-Za-z0-9_\-=]{40,46}",
        min_entropy=3.0,
    ),
    token(
        "vercel-token",
        "Vercel access token",
        ["vcp_", "vci_", "vca_", "vcr_", "vck_"],
        r"vc[pikar]_[A-Za-z0-9]{24,64}",
        min_entropy=3.5,
    ),
    keyed(
        "vercel-token-legacy",
        "Vercel access token (legacy, unprefixed)",
        ("vercel",),
        r"[A-Za-z0-9]{24}",
        min_entropy=3.5,
    ),
    token(
        "openshift-user-token",
        "OpenShift user token",
        ["sha256~"],
        r"sha256~[\w\-]{43}",
        min_entropy=3.5,
    ),
    keyed(
        "okta-access-token",
        "Okta API token",
        ("okta",),
        r"00[\w=\-]{40}",
        # Case matters: "rookTable" is no mention of Okta.
        name=r"(?-i:[Oo]kta|OKTA)",
        min_entropy=3.5,
    ),
    token(
        "supabase-access-token",
        "Supabase personal access token",
        ["sbp_"],
        r"sbp_(?:v0_)?[a-f0-9]{40}",
        min_entropy=3.0,
    ),
    token(
        "supabase-secret-key",
        "Supabase secret API key",
        ["sb_secret_"],
        r"sb_secret_[A-Za-z0-9_\-]{31,64}",
        min_entropy=3.5,
    ),
)
