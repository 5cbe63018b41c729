"""Developer APIs' and specialised SaaS credentials: RapidAPI, MaxMind, Cisco Meraki, Sidekiq,
SettleMint, Authress, Adafruit IO, 42 Intra, Freemius, PostHog, Akamai, Zapier, WunderGraph.

Sidekiq's commercial gem credentials live in Bundler's environment variables
(``BUNDLE_GEMS__CONTRIBSYS__COM=user:pass``) or in the source URL of a Gemfile; a Freemius secret
key sits in a PHP array (``'secret_key' => 'sk_...'``).
"""

from __future__ import annotations

import re

from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import Rule, token

__all__ = ["RULES"]

_SIDEKIQ_PAIR = r"[a-f0-9]{8}:[a-f0-9]{8}"

RULES: tuple[Rule, ...] = (
    keyed(
        "rapidapi-access-token",
        "RapidAPI key",
        ("rapidapi",),
        r"[A-Za-z0-9_-]{50}",
        min_entropy=3.5,
    ),
    token(
        "maxmind-license-key",
        "MaxMind license key",
        ("_mmk",),
        r"[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk",
        min_entropy=4.0,
    ),
    keyed(
        "cisco-meraki-api-key",
        "Cisco Meraki API key",
        ("MERAKI", "Meraki", "meraki"),
        r"[0-9a-f]{40}",
        min_entropy=3.0,
        exact_case=True,
    ),
    keyed(
        "sidekiq-secret",
        "Sidekiq Pro/Enterprise gem credentials",
        ("bundle_enterprise__contribsys__com", "bundle_gems__contribsys__com"),
        _SIDEKIQ_PAIR,
        min_entropy=2.5,
    ),
    Rule(
        id="sidekiq-sensitive-url",
        description="Sidekiq Pro/Enterprise gem source URL with credentials",
        keywords=("gems.contribsys.com", "enterprise.contribsys.com"),
        pattern=re.compile(
            rf"(?i)\bhttps?://(?P<secret>{_SIDEKIQ_PAIR})@(?:gems|enterprise)\.contribsys\.com\b"
        ),
    ),
    token(
        "settlemint-access-token",
        "SettleMint access token",
        ("sm_aat_", "sm_pat_", "sm_sat_"),
        r"sm_(?:aat|pat|sat)_[A-Za-z0-9]{16}",
        min_entropy=3.0,
    ),
    # Authress access keys: an account part, a key id, "acc_" or "acc-", and a signature.
    token(
        "authress-service-client-access-key",
        "Authress service client access key",
        (".acc_", ".acc-"),
        r"(?:sc|ext|scauth|authress)_[A-Za-z0-9]{5,30}\.[A-Za-z0-9]{4,6}\.acc[_-]"
        r"[a-z0-9-]{10,32}\.[A-Za-z0-9+/_=-]{30,120}",
        min_entropy=3.0,
    ),
    token(
        "adafruit-io-key",
        "Adafruit IO key",
        ("aio_",),
        r"aio_[A-Za-z0-9]{28}",
        min_entropy=3.5,
    ),
    keyed(
        "adafruit-api-key",
        "Adafruit API key",
        ("adafruit",),
        r"[A-Za-z0-9_-]{32}",
        min_entropy=3.0,
        # An "aio_" key is 32 characters too: the specific rule names it.
        generic=True,
    ),
    token(
        "intra42-client-secret",
        "42 Intra client secret",
        ("s-s4t2ud-", "s-s4t2af-"),
        r"s-s4t2(?:ud|af)-[a-f0-9]{64}",
        min_entropy=3.0,
    ),
    Rule(
        id="freemius-secret-key",
        description="Freemius secret key",
        keywords=("secret_key",),
        pattern=re.compile(r"""(?i)["']secret_key["']\s*=>\s*["'](?P<secret>sk_[^\s'"]{29})["']"""),
    ),
    token(
        "posthog-api-key",
        "PostHog API key",
        ("phc_", "phx_", "phs_", "phr_", "pha_"),
        r"ph[acrsx]_[A-Za-z0-9]{40,60}",
        min_entropy=3.5,
    ),
    token(
        "akamai-client-token",
        "Akamai EdgeGrid client token",
        ("akab-",),
        r"akab-[a-z0-9]{16}-[a-z0-9]{16}(?!\.[a-z0-9-]{1,80}\.akamaiapis\.net)",
        min_entropy=3.0,
    ),
    token(
        "zapier-webhook-url",
        "Zapier catch hook URL",
        ("hooks.zapier.com/hooks/catch/",),
        r"hooks\.zapier\.com/hooks/catch/[0-9]{5,12}/[a-z0-9]{5,12}",
        min_entropy=3.0,
    ),
    token(
        "wundergraph-api-key",
        "WunderGraph Cosmo API key",
        ("cosmo_",),
        r"cosmo_[a-f0-9]{32}",
        min_entropy=3.0,
    ),
)
