"""Tokens of developer tools and platforms: infrastructure as code, secret managers, CI/CD,
code quality, project tools, data platforms, networking and encryption tools.

Facts from the issuers: Terraform Cloud ``<14>.atlasv1.<60-70>``; Vault / OpenBao service
tokens ``hvs.``, batch ``hvb.``, recovery ``hvr.`` (legacy ``s.`` + 24 only next to "vault");
Doppler ``dp.pt.`` / ``dp.st.`` / ``dp.sa.`` / ``dp.ct.`` / ``dp.scim.`` / ``dp.audit.``; Pulumi
``pul-`` + 40 hex; Databricks ``dapi`` + 32 hex; Harness ``pat.`` / ``sat.`` in four parts;
Octopus ``API-`` + 26; Prefect ``pnu_`` / ``pnb_``; Infracost ``ico-``; SonarQube ``sq[pua]_``;
Linear ``lin_api_`` / ``lin_oauth_``; Notion ``ntn_`` and legacy ``secret_`` + 43; PlanetScale
``pscale_pw_`` / ``pscale_tkn_`` / ``pscale_oauth_``; Tailscale ``tskey-<kind>-``; age
``AGE-SECRET-KEY-1`` + 58 bech32; 1Password service accounts ``ops_eyJ`` and account secret
keys ``A3-``; Defined Networking ``dnkey-``; ClickHouse Cloud ``4b1d`` + 38; Postman ``PMAK-`` /
``PMAT-``. Unprefixed tokens (Codecov, Drone, Travis, Snyk, Confluent, LaunchDarkly, Looker,
Fastly) are recognised next to the service's name.
"""

from __future__ import annotations

import re

from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import Rule, token

__all__ = ["RULES"]

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

_INFRASTRUCTURE = (
    token(
        "hashicorp-tf-api-token",
        "Terraform Cloud / HCP Terraform API token",
        ["atlasv1"],
        r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=\-]{60,70}",
        min_entropy=3.5,
    ),
    token(
        "vault-service-token",
        "HashiCorp Vault or OpenBao service token",
        ["hvs."],
        r"hvs\.[\w\-]{90,120}",
        min_entropy=3.5,
    ),
    token(
        "vault-batch-token",
        "HashiCorp Vault or OpenBao batch token",
        ["hvb."],
        r"hvb\.[\w\-]{138,300}",
        min_entropy=3.5,
    ),
    token(
        "vault-recovery-token",
        "HashiCorp Vault recovery token",
        ["hvr."],
        r"hvr\.[\w\-]{90,120}",
        min_entropy=3.5,
    ),
    keyed(
        "vault-service-token-legacy",
        "HashiCorp Vault service token (legacy)",
        ("vault",),
        r"s\.[A-Za-z0-9]{24}",
        min_entropy=3.5,
    ),
    token(
        "doppler-api-token",
        "Doppler API token",
        ["dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."],
        r"dp\.(?:pt|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}"
        r"|dp\.st\.(?:[a-z0-9_\-]{2,35}\.)?[A-Za-z0-9]{40,44}",
        min_entropy=3.5,
    ),
    token(
        "pulumi-api-token",
        "Pulumi access token",
        ["pul-"],
        r"pul-[a-f0-9]{40}",
        min_entropy=3.0,
    ),
    token(
        "databricks-api-token",
        "Databricks personal access token",
        ["dapi"],
        r"dapi[a-fA-F0-9]{32}(?:-\d)?",
        min_entropy=3.0,
    ),
    Rule(
        id="tailscale-key",
        description="Tailscale API, auth, OAuth client, SCIM or webhook key",
        keywords=("tskey-",),
        # Glued to a letter it is part of a word; after "_" or a digit (MY_tskey-...) it is not.
        pattern=re.compile(
            r"(?<![A-Za-z])(?P<secret>tskey-[a-z]{3,10}-[A-Za-z0-9]{6,20}-[A-Za-z0-9]{16,64})"
            r"(?![A-Za-z0-9_\-])"
        ),
    ),
    token(
        "defined-networking-api-token",
        "Defined Networking API token",
        ["dnkey-"],
        r"dnkey-[A-Za-z0-9=_\-]{26}-[A-Za-z0-9=_\-]{52}",
        min_entropy=3.5,
    ),
    token(
        "age-secret-key",
        "age encryption secret key",
        ["age-secret-key-1"],
        r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
    ),
    token(
        "1password-service-account-token",
        "1Password service account token",
        ["ops_eyj"],
        r"ops_eyJ[A-Za-z0-9+/_\-]{250,}={0,3}",
        min_entropy=4.0,
    ),
    token(
        "1password-secret-key",
        "1Password account secret key",
        ["a3-"],
        r"A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}",
        min_entropy=3.5,
    ),
)

_CI_AND_QUALITY = (
    keyed(
        "codecov-access-token",
        "Codecov upload token",
        ("codecov",),
        rf"[A-Za-z0-9]{{32}}|{_UUID}",
        min_entropy=3.0,
    ),
    keyed(
        "droneci-access-token",
        "Drone CI access token",
        ("drone",),
        r"[A-Za-z0-9]{32}",
        min_entropy=3.0,
    ),
    keyed(
        "travisci-access-token",
        "Travis CI access token",
        ("travis",),
        r"[A-Za-z0-9]{22}",
        min_entropy=3.0,
    ),
    token(
        "harness-api-key",
        "Harness personal or service account token",
        ["pat.", "sat."],
        r"(?:pat|sat)\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}",
        min_entropy=3.5,
    ),
    token(
        "octopus-deploy-api-key",
        "Octopus Deploy API key",
        ["api-"],
        r"API-[A-Z0-9]{26}",
        min_entropy=3.0,
    ),
    token(
        "prefect-api-token",
        "Prefect Cloud API key",
        ["pnu_", "pnb_"],
        r"pn[ub]_[A-Za-z0-9]{36}",
        min_entropy=3.5,
    ),
    Rule(
        id="infracost-api-token",
        description="Infracost API key",
        keywords=("ico-",),
        # After a dot, "ico-<hash>" is a file name (favicon.ico-<digest>.png), not a key.
        pattern=re.compile(
            r"(?<![A-Za-z0-9_.\-])(?P<secret>ico-[A-Za-z0-9]{32})(?![A-Za-z0-9_\-])"
        ),
        min_entropy=3.5,
    ),
    keyed(
        "snyk-api-token",
        "Snyk API token",
        ("snyk",),
        _UUID,
        name=r"snyk[_.\-]?(?:(?:api|oauth)[_.\-]?)?(?:key|token)",
    ),
    token(
        "sonar-api-token",
        "SonarQube / SonarCloud token",
        ["squ_", "sqp_", "sqa_"],
        r"sq[pua]_[a-f0-9]{40}",
        min_entropy=3.0,
    ),
    keyed(
        "sonar-api-token-legacy",
        "SonarQube / SonarCloud token (legacy, unprefixed)",
        ("sonar",),
        r"[A-Za-z0-9]{40}",
        name=r"sonar[_.\-]?(?:login|token)",
        min_entropy=3.0,
    ),
    token(
        "postman-api-token",
        "Postman API key",
        ["pmak-"],
        r"PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}",
        min_entropy=3.0,
    ),
    token(
        "postman-collection-access-token",
        "Postman collection access token",
        ["pmat-"],
        r"PMAT-[A-Z0-9]{26}",
        min_entropy=3.0,
    ),
)

_PRODUCT_AND_DATA = (
    token(
        "linear-api-key",
        "Linear API key",
        ["lin_api_"],
        r"lin_api_[A-Za-z0-9]{40}",
        min_entropy=3.5,
    ),
    token(
        "linear-oauth-token",
        "Linear OAuth access token",
        ["lin_oauth_"],
        r"lin_oauth_[a-f0-9]{64}",
        min_entropy=3.0,
    ),
    keyed(
        "linear-client-secret",
        "Linear OAuth client secret",
        ("linear",),
        r"[a-f0-9]{32}",
        min_entropy=3.0,
    ),
    token(
        "notion-api-token",
        "Notion integration token",
        ["ntn_"],
        r"ntn_[0-9]{9}[A-Za-z0-9]{37}",
        min_entropy=3.5,
    ),
    token(
        "notion-api-token-legacy",
        "Notion integration token (legacy)",
        ["secret_"],
        r"secret_[A-Za-z0-9]{43}",
        min_entropy=4.0,
    ),
    *(
        token(id, description, [prefix], rf"{prefix}[\w=.\-]{{32,64}}", min_entropy=3.5)
        for id, description, prefix in (
            ("planetscale-password", "PlanetScale database password", "pscale_pw_"),
            ("planetscale-api-token", "PlanetScale service token", "pscale_tkn_"),
            ("planetscale-oauth-token", "PlanetScale OAuth token", "pscale_oauth_"),
        )
    ),
    token(
        "clickhouse-cloud-api-secret-key",
        "ClickHouse Cloud API secret key",
        ["4b1d"],
        r"4b1d[A-Za-z0-9]{38}",
        min_entropy=3.5,
    ),
    keyed(
        "confluent-access-token",
        "Confluent Cloud API key",
        ("confluent",),
        r"[A-Za-z0-9]{16}",
        min_entropy=3.0,
    ),
    keyed(
        "confluent-secret-key",
        "Confluent Cloud API secret",
        ("confluent",),
        r"[A-Za-z0-9+/]{64}",
        min_entropy=3.5,
    ),
    keyed(
        "launchdarkly-access-token",
        "LaunchDarkly access token",
        ("launchdarkly",),
        r"[A-Za-z0-9=_\-]{40}",
        min_entropy=3.0,
    ),
    keyed(
        "looker-client-id", "Looker API client id", ("looker",), r"[A-Za-z0-9]{20}", min_entropy=3.0
    ),
    keyed(
        "looker-client-secret",
        "Looker API client secret",
        ("looker",),
        r"[A-Za-z0-9]{24}",
        min_entropy=3.0,
    ),
    keyed(
        "fastly-api-token", "Fastly API token", ("fastly",), r"[A-Za-z0-9=_\-]{32}", min_entropy=3.0
    ),
)

RULES: tuple[Rule, ...] = (*_INFRASTRUCTURE, *_CI_AND_QUALITY, *_PRODUCT_AND_DATA)
