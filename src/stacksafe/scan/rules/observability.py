"""Tokens of monitoring and observability services: Sentry, Grafana, New Relic, Datadog,
Dynatrace, Sumo Logic.

Facts from the issuers: Sentry user tokens ``sntryu_`` + 64 hex, organization tokens
``sntrys_`` + base64 JSON (``{"iat":...``) and a secret; Grafana API keys are base64 of
``{"k":...`` (``eyJrIjoi``), Cloud access policy tokens ``glc_``, service account tokens
``glsa_<32>_<8 hex>``; New Relic keys are typed by prefix (``NRAK-`` user, ``NRII-`` insert,
``NRJS-`` / ``NRBR-`` browser, ``NRAA-`` admin) and license keys end in ``NRAL``; Dynatrace
``dt0c01.<24>.<64>``; Datadog's API (32 hex) and application (40) keys and Sumo Logic's access
ids (``su`` + 12) and keys (64) have no prefix and are recognised next to the name.
"""

from __future__ import annotations

import re

from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import Rule, token

__all__ = ["RULES"]

_SUMO = r"(?-i:[Ss]umo|SUMO)"

RULES: tuple[Rule, ...] = (
    token(
        "sentry-user-token",
        "Sentry user auth token",
        ["sntryu_"],
        r"sntryu_[a-f0-9]{64}",
        min_entropy=3.0,
    ),
    token(
        "sentry-org-token",
        "Sentry organization auth token",
        ["sntrys_eyj"],
        # base64 of {"iat":...}, then the 43-character secret after "_" (some write it right
        # after the payload's "=" padding, base64url, 43-44 characters).
        r"sntrys_eyJpYXQiO[A-Za-z0-9+/]{10,600}={0,2}"
        r"(?:_[A-Za-z0-9+/]{43}|(?<==)[A-Za-z0-9+/\-][A-Za-z0-9+/_\-]{42,43})",
        min_entropy=4.0,
    ),
    keyed(
        "sentry-access-token",
        "Sentry auth token (legacy, unprefixed)",
        ("sentry",),
        r"[a-f0-9]{64}",
        min_entropy=3.0,
    ),
    token(
        "grafana-api-key",
        "Grafana API key",
        ["eyjrijoi"],
        r"eyJrIjoi[A-Za-z0-9+/]{70,400}={0,3}",
        min_entropy=3.5,
    ),
    token(
        "grafana-cloud-api-token",
        "Grafana Cloud access policy token",
        ["glc_"],
        r"glc_[A-Za-z0-9+/]{32,400}={0,3}",
        min_entropy=3.5,
    ),
    token(
        "grafana-service-account-token",
        "Grafana service account token",
        ["glsa_"],
        r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}",
        min_entropy=3.5,
    ),
    token(
        "new-relic-user-api-key",
        "New Relic user API key",
        ["nrak-"],
        r"NRAK-[A-Za-z0-9]{27}",
        min_entropy=3.0,
        flags=re.IGNORECASE,
    ),
    token(
        "new-relic-admin-api-key",
        "New Relic admin API key",
        ["nraa-"],
        r"NRAA-[a-f0-9]{27}",
        min_entropy=3.0,
    ),
    token(
        "new-relic-insert-key",
        "New Relic insert key",
        ["nrii-"],
        r"NRII-[A-Za-z0-9_\-]{30,32}",
        min_entropy=3.0,
        flags=re.IGNORECASE,
    ),
    token(
        "new-relic-browser-api-token",
        "New Relic browser or mobile API token",
        ["nrjs-", "nrbr-"],
        r"NR(?:JS|BR)-[a-f0-9]{19}",
        min_entropy=3.0,
        flags=re.IGNORECASE,
    ),
    token(
        "new-relic-license-key",
        "New Relic license (ingest) key",
        ["nral"],
        r"(?:[a-f0-9]{36}|eu[0-9]{2}[a-fx0-9]{32})NRAL",
        min_entropy=3.0,
    ),
    keyed(
        "new-relic-user-api-id",
        "New Relic API key (unprefixed)",
        ("new-relic", "newrelic", "new_relic"),
        r"[A-Za-z0-9]{64}",
        min_entropy=3.5,
    ),
    token(
        "dynatrace-api-token",
        "Dynatrace API token",
        ["dt0c01."],
        r"dt0c01\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{64}",
        min_entropy=3.5,
    ),
    keyed(
        "datadog-access-token",
        "Datadog application key",
        ("datadog", "dd_app_key", "dd_application_key", "dd-application-key"),
        r"[A-Za-z0-9]{40}",
        min_entropy=3.0,
    ),
    keyed(
        "datadog-api-key",
        "Datadog API key",
        ("datadog", "dd_api_key", "dd-api-key"),
        r"[a-f0-9]{32}",
        min_entropy=3.0,
    ),
    keyed(
        "sumologic-access-id",
        "Sumo Logic access id",
        ("sumo",),
        r"su[A-Za-z0-9]{12}",
        name=_SUMO,
        min_entropy=3.0,
    ),
    keyed(
        "sumologic-access-token",
        "Sumo Logic access key",
        ("sumo",),
        r"[A-Za-z0-9]{64}",
        name=_SUMO,
        min_entropy=3.5,
    ),
)
