"""Productivity and business SaaS rules: real-format tokens found, placeholders and lookalikes
not."""

from __future__ import annotations

from stacksafe.scan.rules import productivity
from tests.scan.rules.fakes import Fakes, family_tests

F = Fakes(808)

CASES = [
    ("dropbox-short-lived-api-token", "sl." + F.b64url(138), "DROPBOX_TOKEN={}"),
    ("dropbox-long-lived-api-token", F.alnum(11) + "A" * 10 + F.b64url(43), "token = '{}'"),
    ("dropbox-api-token", F.lower(15), "DROPBOX_APP_SECRET={}"),
    ("asana-client-id", "1" + F.digits(15), "ASANA_CLIENT_ID={}"),
    ("asana-client-secret", F.alnum(32), "asana_client_secret: {}"),
    (
        "asana-personal-access-token",
        f"1/{F.digits(16)}:{F.hex(32)}",
        "ASANA_PAT={}",
    ),
    ("airtable-api-key", "key" + F.alnum(14), "AIRTABLE_API_KEY={}"),
    (
        "airtable-personal-access-token",
        f"pat{F.alnum(14)}.{F.hex(64)}",
        "Airtable(token='{}')",
    ),
    ("trello-access-token", F.hex(32), "TRELLO_KEY={}"),
    ("typeform-api-token", "tfp_" + F.b64url(44) + "_" + F.alnum(14), "token: {}"),
    ("figma-personal-access-token", "figd_" + F.b64url(40), "FIGMA_TOKEN={}"),
    ("hubspot-private-app-token", "pat-na1-" + F.uuid(), "HUBSPOT_TOKEN={}"),
    ("hubspot-api-key", F.uuid(), "hubspot_api_key = '{}'"),
    ("contentful-personal-access-token", "CFPAT-" + F.b64url(43), "CMA_TOKEN={}"),
    ("contentful-delivery-api-token", F.b64url(43), "CONTENTFUL_DELIVERY_TOKEN={}"),
    ("freshbooks-access-token", F.alnum(64), "freshbooks_token: {}"),
    ("adobe-client-id", F.hex(32), "ADOBE_CLIENT_ID={}"),
    ("adobe-client-secret", "p8e-" + F.alnum(32), "client_secret = '{}'"),
    ("beamer-api-token", "b_" + F.b64url(44), "BEAMER_API_KEY={}"),
    ("frameio-api-token", "fio-u-" + F.b64url(64), "FRAMEIO_TOKEN={}"),
    ("readme-api-token", "rdme_" + F.lower(70), "README_API_KEY={}"),
    (
        "salesforce-access-token",
        f"00D{F.alnum(15)}!{F.alnum(90)}.{F.alnum(20)}",
        "SF_ACCESS_TOKEN={}",
    ),
    ("salesforce-consumer-key", "3MVG" + F.alnum(40) + "." + F.alnum(40), "consumer_key: {}"),
    ("algolia-api-key", F.hex(32), "ALGOLIA_ADMIN_KEY={}"),
    ("mapbox-api-token", f"pk.{F.alnum(60)}.{F.alnum(22)}", "MAPBOX_TOKEN={}"),
    ("mapbox-secret-token", f"sk.eyJ1Ijoi{F.b64url(60)}.{F.b64url(22)}", "token: {}"),
]

LOOKALIKES = [
    # An Airtable-shaped token where Airtable is not named: "pat" is everywhere ("path").
    f"path = pat{F.alnum(14)}.{F.hex(64)}",
    # Dropbox's run of "A"s inside base64 data.
    "/9j/" + F.alnum(11) + "A" * 10 + F.alnum(43) + "/x",
    "ssl." + F.b64url(100),
    f"hubspot_portal = {'0' * 8}-0000-0000-0000-{'0' * 12}",
    # Placeholders where the credentials go.
    "FIGMA_TOKEN=figd_" + "x" * 40,
    "hubspot_api_key = '${HUBSPOT_API_KEY}'",
    "AIRTABLE_API_KEY=<your airtable api key>",
    "TRELLO_KEY=" + "*" * 32,
]

test_finds_each_credential, test_every_rule_has_a_case, test_ignores_lookalikes = family_tests(
    productivity.RULES, CASES, LOOKALIKES
)
