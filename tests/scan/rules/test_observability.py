"""Observability rules (Sentry, Grafana, New Relic, Datadog, Dynatrace, Sumo Logic): real-format
tokens are found with their rule, line and column; placeholders and lookalikes are not."""

from __future__ import annotations

import base64
import json

from stacksafe.scan.rules.observability import RULES
from tests.scan.rules.draw import ALNUM, B64, HEX, UPPER, Draw, family_tests

d = Draw("observability")
_ORG = base64.b64encode(
    json.dumps(
        {"iat": 1741264356.0, "url": "https://sentry.io", "region_url": "https://us.sentry.io"},
        separators=(",", ":"),
    ).encode()
).decode()
_GRAFANA = base64.b64encode(
    json.dumps({"k": d(ALNUM, 32), "n": "deploy-pipeline", "id": 1}, separators=(",", ":")).encode()
).decode()

CASES = [
    ("sentry-user-token", "SENTRY_AUTH_TOKEN={}", "sntryu_" + d(HEX, 64)),
    ("sentry-org-token", "SENTRY_AUTH_TOKEN={}", "sntrys_" + _ORG + "_" + d(B64, 43)),
    ("sentry-access-token", 'sentry_token = "{}"', d(HEX, 64)),
    ("grafana-api-key", "GRAFANA_API_KEY={}", _GRAFANA),
    ("grafana-cloud-api-token", "token: {}", "glc_" + d(B64, 80) + "=="),
    ("grafana-service-account-token", "GF_TOKEN={}", "glsa_" + d(ALNUM, 32) + "_" + d(HEX, 8)),
    ("new-relic-user-api-key", "NEW_RELIC_API_KEY={}", "NRAK-" + d(UPPER, 27)),
    ("new-relic-admin-api-key", "key: {}", "NRAA-" + d(HEX, 27)),
    ("new-relic-insert-key", "insert_key: {}", "NRII-" + d(ALNUM + "_-", 32)),
    ("new-relic-browser-api-token", "browser: {}", "NRJS-" + d(HEX, 19)),
    ("new-relic-license-key", "NEW_RELIC_LICENSE_KEY={}", d(HEX, 36) + "NRAL"),
    ("new-relic-user-api-id", "newrelic_account_key: {}", d(ALNUM, 64)),
    ("dynatrace-api-token", "DT_API_TOKEN={}", "dt0c01." + d(UPPER, 24) + "." + d(UPPER, 64)),
    ("datadog-access-token", "DD_APP_KEY={}", d(HEX, 40)),
    ("datadog-api-key", "DD_API_KEY={}", d(HEX, 32)),
    ("sumologic-access-id", "SUMO_ACCESS_ID={}", "su" + d(ALNUM, 12)),
    ("sumologic-access-token", "SUMO_ACCESS_KEY={}", d(ALNUM, 64)),
]


STAND_INS = [
    "sntryu_" + d(HEX, 63),  # too short
    "sntryu_" + "a" * 64,
    "sntrys_" + _ORG + "_" + d(ALNUM, 42),  # secret one short
    "static void GLC_CreateLightmapTexturesIndividual(void);",
    "glpl_ThisI5NtTheTok3nYou8reLo0k1ngF0r_0a2a3df7",
    "DD_API_KEY=" + "0" * 32,
    "sumo_logic_url: https://api.sumologic.com/api/v1/collectors/1234567",
    "rookTable",
]

(
    test_real_format_is_found,
    test_every_rule_has_a_case,
    test_placeholder_or_lookalike_is_not_found,
) = family_tests(RULES, CASES, STAND_INS)
