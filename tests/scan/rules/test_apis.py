"""Developer APIs' and specialised SaaS rules: real-format credentials found, lookalikes not."""

from __future__ import annotations

from stacksafe.scan.rules import apis
from tests.scan.rules.fakes import Fakes, family_tests

F = Fakes(909)
_SIDEKIQ = f"{F.hex(8)}:{F.hex(8)}"

CASES = [
    ("rapidapi-access-token", F.b64url(50), "X-RapidAPI-Key: {}"),
    ("maxmind-license-key", f"{F.alnum(6)}_{F.alnum(29)}_mmk", "LicenseKey {}"),
    ("cisco-meraki-api-key", F.hex(40), "MERAKI_DASHBOARD_API_KEY={}"),
    ("sidekiq-secret", _SIDEKIQ, "BUNDLE_GEMS__CONTRIBSYS__COM={}"),
    ("sidekiq-sensitive-url", _SIDEKIQ, "source 'https://{}@gems.contribsys.com/'"),
    ("settlemint-access-token", "sm_pat_" + F.alnum(16), "SETTLEMINT_TOKEN={}"),
    (
        "authress-service-client-access-key",
        f"sc_{F.lower(20)}.{F.lower(5)}.acc_{F.lower(24)}.{F.b64url(64)}",
        "AUTHRESS_KEY={}",
    ),
    ("adafruit-io-key", "aio_" + F.alnum(28), "ADAFRUIT_IO_KEY={}"),
    ("adafruit-api-key", F.b64url(32), "adafruit_key: {}"),
    ("intra42-client-secret", "s-s4t2ud-" + F.hex(64), "FT_SECRET={}"),
    ("freemius-secret-key", "sk_" + F.b64url(29), "\"secret_key\" => '{}',"),
    ("posthog-api-key", "phx_" + F.alnum(47), "POSTHOG_PERSONAL_API_KEY={}"),
    ("akamai-client-token", f"akab-{F.lower(16)}-{F.lower(16)}", "client_token = {}"),
    (
        "zapier-webhook-url",
        f"hooks.zapier.com/hooks/catch/{F.digits(7)}/{F.lower(7)}",
        "https://{}/",
    ),
    ("wundergraph-api-key", "cosmo_" + F.hex(32), "COSMO_API_KEY={}"),
]

LOOKALIKES = [
    # "meraKi" inside "CameraKit" (a Podfile.lock checksum) is not Meraki.
    "ReactNativeCameraKit: f15a5a04b0f6dc6073e6db0296e6ef2d8b8d2522",
    # An EdgeGrid host name, not its client token.
    "host: akab-h5stbzeswb3v4kj3-tblc7jkffv3wfxh3.luna.akamaiapis.net",
    "secret_key => sk_abcdefghijklmnopqrstuvwxyz123",
]

test_finds_each_credential, test_every_rule_has_a_case, test_ignores_lookalikes = family_tests(
    apis.RULES, CASES, LOOKALIKES
)
